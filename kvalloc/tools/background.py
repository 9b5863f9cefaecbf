"""A realistically busy address space for the growth study: a machine's ``/proc/vmallocinfo``
parsed and recreated in a simulated kernel, background churn between the study's operations,
and fragmentation columns.

Three parts:

- :func:`parse_vmallocinfo` / :func:`load_vmallocinfo` read ``/proc/vmallocinfo`` as
  ``mm/vmalloc.c: vmalloc_info_show()`` prints it (and as :meth:`Kernel.vmallocinfo` does);
- :func:`populate` allocates one area per entry in a :class:`~kvalloc.Kernel`, so its KVA
  holds the machine's population (sizes, kinds, callers, order); :func:`release` frees it;
- :class:`Churn` performs one ``lib/test_vmalloc.c``-style vmalloc or vfree per
  :meth:`Churn.step`; :func:`fragmentation` measures the result.

Addresses in a vmallocinfo read by an unprivileged user are hashed (``%pK``), so only sizes,
callers, kinds and the order of the lines can be trusted. On a kernel with several vmap nodes
(v6.9+, one per CPU up to 128) the busy lines come node by node, each node in address order,
so the file order is not the address order; the lazily freed areas come last.

Fragmentation columns (:func:`fragmentation`; the vmalloc range is
``[VMALLOC_START, VMALLOC_END)``, a *free block* is a maximal free range of kernel virtual
addresses no busy or lazily freed area holds: the KVA allocator's free blocks, with the
areas waiting in the vmap nodes' pools counted as free, as ``/proc/vmallocinfo`` shows them):

``free_areas``
    The number of free blocks that intersect the vmalloc range, the untouched block above
    the highest area included (a fresh kernel has 1). A block crossing a bound of the range
    counts once.
``largest_hole_bytes``
    The size in bytes of the largest free block below ``VMALLOC_START + va_span_bytes``
    (clipped to ``VMALLOC_START``): the largest gap between areas, the untouched space above
    the highest area excluded. 0 when the areas are packed without a gap.
``va_span_bytes``
    From ``VMALLOC_START`` to the end of the highest busy or lazily freed vmap area in the
    vmalloc range (guard pages included; vm_map_ram areas count as busy); 0 when there is
    none.
``lazy_va_bytes``
    The bytes of address space held by lazily freed areas not yet purged (the ``unpurged
    vm_area`` lines of vmallocinfo): neither busy nor free until the next purge. Equal to
    ``Kernel.stats().vmap_lazy_nr * PAGE_SIZE``.
``purges``
    ``Kernel.stats().nr_purges``: lazy purges since boot; each returns every lazily freed
    area to the free blocks with one TLB flush.

RAM: :func:`populate` needs physical pages for the busy areas only (the lazily freed ones
are freed again at once). The sample ``tests/data/vmallocinfo-linux-6.18.txt`` (3 252 lines,
80 629 760 bytes of address space in all, 18 579 456 of them in its 221 busy areas, guard
pages included) leaves 4 331 pages (17 MiB) in use; :func:`ram_needed` says 24 MiB, the
default 4 GiB kernel is ample.

Example:
    >>> from kvalloc import Kernel
    >>> entries = parse_vmallocinfo(
    ...     "0x0000000012345678-0x000000009abcdef0   20480 kernel_clone+0xb8/0x400 pages=4 vmalloc N0=4\\n"
    ...     "0x00000000deadbeef-0x00000000feedface   20480 unpurged vm_area\\n")
    >>> [(e.size, e.caller, e.kind, e.pages) for e in entries]
    [(20480, 'kernel_clone+0xb8/0x400', 'vmalloc', 4), (20480, '', 'unpurged', None)]
    >>> k = Kernel(); pop = populate(k, entries)
    >>> print(k.vmallocinfo(), end="")
    0xffffc90000000000-0xffffc90000005000   20480 kernel_clone+0xb8/0x400 pages=4 vmalloc N0=4
    0xffffc90000005000-0xffffc9000000a000   20480 unpurged vm_area
    >>> fragmentation(k)["va_span_bytes"], fragmentation(k)["lazy_va_bytes"]
    (40960, 20480)
    >>> release(k, pop); k.vm_unmap_aliases(); k.stats().vmap_areas
    0
"""

from __future__ import annotations

import dataclasses
import os
import random
import re
from collections.abc import Callable, Iterable
from typing import Final, NamedTuple

from .._validate import require_bool, require_int, require_str
from ..constants import PAGE_SIZE, SHMLBA, VMALLOC_END, VMALLOC_START
from ..gfp import GFP
from ..kernel import Kernel, Page
from ..vm_flags import VM

__all__ = [
    "CHURN_CASES", "FRAGMENTATION_COLUMNS", "KINDS", "Churn", "ChurnOp", "Population",
    "VmallocinfoEntry", "fragmentation", "load_vmallocinfo", "parse_vmallocinfo", "populate",
    "ram_needed", "release",
]

#: The kinds of :attr:`VmallocinfoEntry.kind`, in the order :class:`Population` counts them.
KINDS: Final = ("vmalloc", "vmap", "ioremap", "vm_map_ram", "unpurged", "user", "other")

#: The columns of :func:`fragmentation`, in order (defined in the module docstring).
FRAGMENTATION_COLUMNS: Final = ("free_areas", "largest_hole_bytes", "va_span_bytes",
                                "lazy_va_bytes", "purges")

_MIB: Final = 1 << 20
_RAM_STEP: Final = 4 * _MIB            # KernelConfig.ram is a multiple of 4 MiB
_U64: Final = 1 << 64

# -- parsing ------------------------------------------------------------------------------

#: The words ``vmalloc_info_show()`` prints for ``VM_*`` flags (and ``vpages``), in its order.
_FLAG_WORDS: Final = ("ioremap", "sparse", "vmalloc", "vmap", "user", "dma-coherent", "vpages")
_RANGE = re.compile(r"0x([0-9a-fA-F]{1,16})-0x([0-9a-fA-F]{1,16})")
_DECIMAL = re.compile(r"[0-9]+")
_HEX = re.compile(r"(?:0x)?([0-9a-fA-F]{1,16})")
_NUMA = re.compile(r"N[0-9]+=[0-9]+")
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")


@dataclasses.dataclass(frozen=True)
class VmallocinfoEntry:
    """One line of ``/proc/vmallocinfo``.

    ``start`` and ``end`` are the printed addresses (hashed on most machines: only their
    equality means anything); ``size`` is the printed size, the guard page included (for
    ``vm_map_ram`` and ``unpurged`` lines: the whole vmap area). ``caller`` is the printed
    ``%pS`` symbol, a module suffix such as ``" [nf_tables]"`` included, or ``""``;
    ``pages`` and ``phys`` the ``pages=`` and ``phys=`` values or None; ``flags`` the bare
    words after the caller, in print order (``("vmalloc", "vpages")``; key=value words and
    the ``N0=`` NUMA counts are not flags; ``("unpurged", "vm_area")`` and
    ``("vm_map_ram",)`` for those two lines). ``kind`` is one of :data:`KINDS`:
    ``unpurged`` and ``vm_map_ram`` for those lines, otherwise by the first flag present of
    ``ioremap``, ``user``, ``vmalloc``, ``vmap``, else ``other``.

    Validated on construction (TypeError, ValueError naming the field). O(len(flags)).

    >>> e = VmallocinfoEntry(0, 8192, 8192, "f+0x1/0x2", "vmalloc", 1, None, ("vmalloc",))
    >>> e.kind, e.pages
    ('vmalloc', 1)
    >>> VmallocinfoEntry(0, 8192, 8192, "", "vmallocc", 1, None, ())
    Traceback (most recent call last):
        ...
    ValueError: kind must be one of vmalloc, vmap, ioremap, vm_map_ram, unpurged, user, other; got 'vmallocc'
    """

    start: int
    end: int
    size: int
    caller: str
    kind: str
    pages: int | None
    phys: int | None
    flags: tuple[str, ...]

    def __post_init__(self) -> None:
        for name in ("start", "end", "size"):
            require_int(name, getattr(self, name), 0, _U64)
        require_str("caller", self.caller)
        require_str("kind", self.kind)
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}; got {self.kind!r}")
        for name in ("pages", "phys"):
            value = getattr(self, name)
            if value is not None:
                require_int(name, value, 0, _U64)
        if not isinstance(self.flags, tuple):
            raise TypeError(f"flags must be tuple, not {type(self.flags).__name__}")
        for flag in self.flags:
            require_str("flags item", flag)


def _is_keyed(word: str) -> bool:
    return word.startswith(("pages=", "phys=")) or _NUMA.fullmatch(word) is not None


def _kind_of(flags: Iterable[str]) -> str:
    present = set(flags)
    for kind in ("ioremap", "user", "vmalloc", "vmap"):
        if kind in present:
            return kind
    return "other"


def _parse_line(line: str, number: int) -> VmallocinfoEntry:
    words = line.split()

    def bad(reason: str) -> ValueError:
        return ValueError(f"vmallocinfo line {number}: {reason}: {line.strip()!r}")

    if len(words) < 2:
        raise bad("expected 'START-END SIZE ...'")
    m = _RANGE.fullmatch(words[0])
    if m is None:
        raise bad(f"bad address range {words[0]!r}")
    if _DECIMAL.fullmatch(words[1]) is None:
        raise bad(f"bad size {words[1]!r}")
    start, end, size = int(m[1], 16), int(m[2], 16), int(words[1])
    if size >= _U64:
        raise bad(f"bad size {words[1]!r}")
    rest = words[2:]
    if rest == ["unpurged", "vm_area"]:
        return VmallocinfoEntry(start, end, size, "", "unpurged", None, None, ("unpurged", "vm_area"))
    if rest == ["vm_map_ram"]:
        return VmallocinfoEntry(start, end, size, "", "vm_map_ram", None, None, ("vm_map_ram",))
    i, caller = 0, ""
    # The kernel always passes a caller; a first word that is also a flag name (kvalloc's
    # vmap() records the caller "vmap") is the caller unless it is the only word.
    if rest and not _is_keyed(rest[0]) and (rest[0] not in _FLAG_WORDS or len(rest) > 1):
        caller, i = rest[0], 1
        if i < len(rest) and len(rest[i]) > 2 and rest[i][0] == "[" and rest[i][-1] == "]":
            caller, i = f"{caller} {rest[i]}", i + 1          # %pS of a module symbol
    pages = phys = None
    if i < len(rest) and rest[i].startswith("pages="):
        value = rest[i][6:]
        if _DECIMAL.fullmatch(value) is None or int(value) >= _U64:
            raise bad(f"bad page count {rest[i]!r}")
        pages, i = int(value), i + 1
    if i < len(rest) and rest[i].startswith("phys="):
        hm = _HEX.fullmatch(rest[i][5:])
        if hm is None:
            raise bad(f"bad physical address {rest[i]!r}")
        phys, i = int(hm[1], 16), i + 1
    flags: list[str] = []
    while i < len(rest) and _WORD.fullmatch(rest[i]) is not None:
        if rest[i] in flags:
            raise bad(f"repeated flag {rest[i]!r}")
        flags.append(rest[i])
        i += 1
    while i < len(rest) and _NUMA.fullmatch(rest[i]) is not None:
        i += 1
    if i < len(rest):
        raise bad(f"unexpected {rest[i]!r}")
    return VmallocinfoEntry(start, end, size, caller, _kind_of(flags), pages, phys, tuple(flags))


def parse_vmallocinfo(text: str) -> list[VmallocinfoEntry]:
    """The entries of a ``/proc/vmallocinfo`` text, in file order; blank lines are skipped.

    Each line is ``START-END SIZE [CALLER [\\[MODULE\\]]] [pages=N] [phys=ADDR] [FLAG...]
    [Nn=COUNT...]``, or ``START-END SIZE vm_map_ram``, or ``START-END SIZE unpurged
    vm_area``. A malformed line raises ValueError naming its 1-based line number. O(len(text)).

    >>> [e.kind for e in parse_vmallocinfo(
    ...     "0x01-0x02    8192 acpi_os_map_iomem+0x1bc/0x1e0 phys=0x000000000009f000 ioremap\\n"
    ...     "\\n0x03-0x04   16384 vm_map_ram\\n")]
    ['ioremap', 'vm_map_ram']
    >>> parse_vmallocinfo("0x01-0x02 8192 f+0x1/0x2 pages=x vmalloc")
    Traceback (most recent call last):
        ...
    ValueError: vmallocinfo line 1: bad page count 'pages=x': '0x01-0x02 8192 f+0x1/0x2 pages=x vmalloc'
    """
    require_str("text", text)
    return [_parse_line(line, n) for n, line in enumerate(text.split("\n"), 1) if line.strip()]


def load_vmallocinfo(path: str | os.PathLike[str]) -> list[VmallocinfoEntry]:
    """:func:`parse_vmallocinfo` of a file (UTF-8), e.g. a saved ``/proc/vmallocinfo``. O(size).

    >>> import pathlib, tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     p = pathlib.Path(d, "vmallocinfo"); _ = p.write_text("0x01-0x02   20480 unpurged vm_area\\n")
    ...     [e.kind for e in load_vmallocinfo(p)]
    ['unpurged']
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be str or os.PathLike, not {type(path).__name__}")
    with open(path, encoding="utf-8") as f:
        return parse_vmallocinfo(f.read())


# -- recreating a population --------------------------------------------------------------


@dataclasses.dataclass
class _Held:
    """One area :func:`release` must undo: ``vfree``, or an unmap plus the caller's pages."""

    op: str
    addr: int
    pages: list[Page]


@dataclasses.dataclass
class Population:
    """What :func:`populate` made: counts per kind and, internally, the areas to release.

    ``created`` and ``skipped`` count entries per kind (every kind of :data:`KINDS` present,
    ``sum(created.values()) + sum(skipped.values())`` equals the number of entries);
    ``implied`` counts the entries that were the vmalloc'd page arrays (``vpages``) of other
    entries and appeared with them; ``purges`` the lazy purges the kernel ran while
    populating; ``bytes_created`` the vmallocinfo bytes (guard pages included) of the
    created entries. :attr:`live` is the number of areas :func:`release` will free.

    >>> p = Population(); p.created["vmalloc"], p.live
    (0, 0)
    """

    created: dict[str, int] = dataclasses.field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    skipped: dict[str, int] = dataclasses.field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    implied: int = 0
    purges: int = 0
    bytes_created: int = 0
    _held: list[_Held] = dataclasses.field(default_factory=list, repr=False, compare=False)
    _kernel: Kernel | None = dataclasses.field(default=None, repr=False, compare=False)

    @property
    def live(self) -> int:
        """The number of areas still held (freed by :func:`release`). O(1).

        >>> Population().live
        0
        """
        return len(self._held)


def _require_kernel(k: object) -> Kernel:
    if not isinstance(k, Kernel):
        raise TypeError(f"k must be Kernel, not {type(k).__name__}")
    return k


def _entries(entries: object) -> list[VmallocinfoEntry]:
    if isinstance(entries, (str, bytes)) or not isinstance(entries, Iterable):
        raise TypeError(f"entries must be an iterable of VmallocinfoEntry, not {type(entries).__name__}")
    items = list(entries)
    for i, e in enumerate(items):
        if not isinstance(e, VmallocinfoEntry):
            raise TypeError(f"entries[{i}] must be VmallocinfoEntry, not {type(e).__name__}")
    return items


def _array_area_size(nr_pages: int) -> int:
    """vmallocinfo size of the vmalloc'd page array of an ``nr_pages`` area, or 0 if kmalloc'd."""
    array = nr_pages * 8
    if array <= PAGE_SIZE:
        return 0
    return -(-array // PAGE_SIZE) * PAGE_SIZE + PAGE_SIZE


def _implied_arrays(items: list[VmallocinfoEntry]) -> dict[int, int]:
    """Owner index -> index of the entry that is its vmalloc'd page array (``vpages``).

    The kernel lists a page array as an area of its own (same caller); recreating the owner
    recreates it, so it must not be allocated a second time. Each owner takes the first free
    candidate in file order.
    """
    candidates: dict[tuple[str, int], list[int]] = {}
    for i, e in enumerate(items):
        if e.kind == "vmalloc" and "vpages" not in e.flags:
            candidates.setdefault((e.caller, e.size), []).append(i)
    implied: dict[int, int] = {}
    for i, e in enumerate(items):
        if e.kind in ("vmalloc", "user") and "vpages" in e.flags and e.size > PAGE_SIZE:
            size = _array_area_size(e.size // PAGE_SIZE - 1)
            free = candidates.get((e.caller, size))
            if size and free:
                implied[i] = free.pop(0)
    return implied


def _order(items: list[VmallocinfoEntry], skip: set[int], keep_order: bool) -> list[int]:
    busy = [i for i, e in enumerate(items) if e.kind != "unpurged" and i not in skip]
    if keep_order:
        return [i for i in range(len(items)) if i not in skip]
    lazy = [i for i, e in enumerate(items) if e.kind == "unpurged"]
    nb, nl = len(busy), len(lazy)
    order: list[int] = []
    bi = li = 0
    while bi < nb or li < nl:              # an even interleave: lazy t sits at (t + 1/2) / nl
        if li < nl and (bi >= nb or (2 * li + 1) * nb < (2 * bi + 1) * nl):
            order.append(lazy[li])
            li += 1
        else:
            order.append(busy[bi])
            bi += 1
    return order


def _bulk(k: Kernel, n: int) -> list[Page] | None:
    pages = k.alloc_pages_bulk(n)
    if len(pages) < n:
        for page in pages:
            k.free_pages(page, 0)
        return None
    return pages


_EXTRA_VM_FLAGS: Final = {"sparse": VM.SPARSE, "dma-coherent": VM.DMA_COHERENT, "user": VM.USERMAP}


def _create(k: Kernel, e: VmallocinfoEntry, pop: Population) -> bool:
    """Allocate the area of one entry; False if the kernel refused it."""
    kind, size = e.kind, e.size
    if size % PAGE_SIZE or size < (PAGE_SIZE if kind == "vm_map_ram" else 2 * PAGE_SIZE):
        return False
    gfp = GFP.KERNEL | GFP.NOWARN
    caller = e.caller or None
    if kind in ("vmalloc", "unpurged") or (kind == "user" and "vmap" not in e.flags):
        if kind == "user":
            p = k.vmalloc_node_range(size - PAGE_SIZE, SHMLBA, VMALLOC_START, VMALLOC_END,
                                     gfp | GFP.ZERO, VM.USERMAP, caller=caller)
        else:
            p = k.vmalloc(size - PAGE_SIZE, gfp, caller=caller)
        if p is None:
            return False
        if kind == "unpurged":
            k.vfree(p)                      # stays lazily freed until the next purge
        else:
            pop._held.append(_Held("vfree", p, []))
        return True
    if kind == "vm_map_ram":
        count = size // PAGE_SIZE
        pages = _bulk(k, count)
        addr = None if pages is None else k.vm_map_ram(pages, count)
        op = "vm_unmap_ram"
    else:                                   # vmap, ioremap, other, and a vmap'd "user"
        if kind == "ioremap":
            vm_flags = VM.IOREMAP
        else:
            vm_flags = VM.MAP if kind in ("vmap", "user") or "vmap" in e.flags else VM(0)
            for word in e.flags:
                vm_flags |= _EXTRA_VM_FLAGS.get(word, VM(0))
            vm_flags = vm_flags or VM.MAP
        pages = _bulk(k, size // PAGE_SIZE - 1)
        addr = None if pages is None else k.vmap(pages, vm_flags)
        op = "vunmap"
    if addr is None:
        for page in pages or []:
            k.free_pages(page, 0)
        return False
    assert pages is not None
    pop._held.append(_Held(op, addr, pages))
    return True


def populate(k: Kernel, entries: Iterable[VmallocinfoEntry], *,
             keep_order: bool = True) -> Population:
    """Allocate in ``k`` one area per entry, so its KVA holds the machine's population.

    By kind (sizes are vmallocinfo sizes, the guard page included):

    - ``vmalloc``: ``k.vmalloc(size - PAGE_SIZE, caller=caller)``; the area is ``size``
      bytes, and so is its vmallocinfo line. An entry that is the vmalloc'd page array
      (``vpages``) of another is not allocated: recreating its owner recreates it
      (:attr:`Population.implied`). Alignments are not reproduced: thread stacks
      (``kernel_clone``) are ``THREAD_ALIGN``-aligned (16 KiB) on the machine, here they
      are packed;
    - ``user``: ``vmalloc_user``, i.e. ``vmalloc_node_range`` with ``VM_USERMAP``;
    - ``vmap``: ``k.vmap`` of ``size / PAGE_SIZE - 1`` freshly allocated order-0 pages (the
      caller prints as ``vmap``: kvalloc's ``vmap`` takes none);
    - ``ioremap``: kvalloc has no ioremap; emulated as ``k.vmap(pages, VM.IOREMAP)``, an area
      whose only flag is ``VM_IOREMAP`` (it prints as ``ioremap`` with caller ``vmap``),
      mapping ordinary RAM pages and without ``phys=``; ioremap's natural alignment (to the
      next power of two of the size, up to ``IOREMAP_MAX_ORDER``) is not reproduced;
    - ``vm_map_ram``: ``k.vm_map_ram`` of ``size / PAGE_SIZE`` pages. A kernel's line is a
      per-CPU vmap block (``VMAP_BLOCK_SIZE``, 4 MiB, however much of it is in use) or a
      mapping of more than ``VMAP_MAX_ALLOC`` pages: both come back as an area of their
      own of the line's size (a block's 4 MiB alignment is not reproduced). A line of at
      most 64 pages, which a kernel does not print, is carved from a block here as there, so
      it reads back as the block's 4 MiB line;
    - ``unpurged``: ``vmalloc`` then ``vfree`` at once: the area stays lazily freed until a
      purge. The kernel purges every lazy area when the lazy page count exceeds
      ``lazy_max_pages`` (``fls(cpus) * 8192`` pages); the sample's 3 031 areas hold
      15 149 pages, below the 16 384 of the default two CPUs, so all of them stay lazy
      (with ``cpus=1``, 8 192 pages, one purge happens half way);
    - ``other``: a vmap with the flags kvalloc knows (``sparse``, ``dma-coherent``).

    ``keep_order=True`` allocates in file order. ``keep_order=False`` spreads the lazily
    freed entries evenly among the busy ones (the unpurged entry ``t`` of ``n`` goes at
    ``(t + 1/2) / n`` of the way), as on a machine where the stacks of exited tasks were
    freed among live ones: a purge then leaves holes between busy areas instead of one block
    above them. An entry the kernel refuses (too large for the RAM, a size that is not a
    whole number of pages) is counted in :attr:`Population.skipped`, silently
    (``__GFP_NOWARN``). O(n log n) in the entries plus O(pages).

    >>> from kvalloc import Kernel
    >>> k = Kernel(); e = parse_vmallocinfo("0x1-0x2 8192 pci_mmcfg+0x2b/0x60 phys=0xe0000000 ioremap")
    >>> pop = populate(k, e); pop.created["ioremap"], k.vmallocinfo().split()[2:]
    (1, ['vmap', 'ioremap'])
    """
    _require_kernel(k)
    items = _entries(entries)
    require_bool("keep_order", keep_order)
    pop = Population()
    pop._kernel = k
    implied = _implied_arrays(items)
    order = _order(items, set(implied.values()), keep_order)
    with k.machine.lock:
        purges = k.stats().nr_purges
        for i in order:
            e = items[i]
            made = _create(k, e, pop)
            counts = pop.created if made else pop.skipped
            counts[e.kind] += 1
            pop.bytes_created += e.size if made else 0
            j = implied.get(i)
            if j is not None:
                (pop.created if made else pop.skipped)[items[j].kind] += 1
                if made:
                    pop.implied += 1
                    pop.bytes_created += items[j].size
        pop.purges = k.stats().nr_purges - purges
    return pop


def release(k: Kernel, pop: Population) -> None:
    """Free every area :func:`populate` left busy, newest first, with the pages it mapped.

    Lazily freed areas (the ``unpurged`` entries, and the areas freed now) stay lazy until
    a purge (``k.vm_unmap_aliases()``). Releasing twice is a no-op. O(areas + pages).

    >>> from kvalloc import Kernel
    >>> k = Kernel(); pop = populate(k, parse_vmallocinfo("0x1-0x2 4194304 vm_map_ram"))
    >>> release(k, pop); pop.live, k.stats().free_pages == k.stats().total_pages
    (0, True)
    """
    _require_kernel(k)
    if not isinstance(pop, Population):
        raise TypeError(f"pop must be Population, not {type(pop).__name__}")
    if pop._kernel is not None and pop._kernel is not k:
        raise ValueError("pop was populated on another Kernel")
    with k.machine.lock:
        while pop._held:
            h = pop._held.pop()
            if h.op == "vfree":
                k.vfree(h.addr)
                continue
            if h.op == "vunmap":
                k.vunmap(h.addr)
            else:
                k.vm_unmap_ram(h.addr, len(h.pages))
            for page in h.pages:
                k.free_pages(page, 0)


def ram_needed(entries: Iterable[VmallocinfoEntry]) -> int:
    """A ``KernelConfig.ram`` (bytes, a multiple of 4 MiB) that holds :func:`populate` of
    ``entries``: the pages of the busy areas plus the largest lazily freed one, an eighth
    more for page arrays and slabs, and 4 MiB of headroom. O(n).

    >>> ram_needed(parse_vmallocinfo("0x1-0x2 8392704 alloc_large_system_hash+0x127/0x246 vmalloc"))
    16777216
    """
    items = _entries(entries)
    pages = transient = 0
    for e in items:
        n = e.size // PAGE_SIZE - (0 if e.kind == "vm_map_ram" else 1)
        if e.kind == "unpurged":
            transient = max(transient, n)
        else:
            pages += max(n, 0)
    need = (pages + transient) * PAGE_SIZE
    need += need // 8 + _RAM_STEP
    return -(-need // _RAM_STEP) * _RAM_STEP


# -- churn --------------------------------------------------------------------------------


class ChurnOp(NamedTuple):
    """One operation of :meth:`Churn.step`: ``op`` is ``"vmalloc"`` or ``"vfree"``; ``addr``
    the area (None for a vmalloc the kernel refused); ``size`` and ``align`` the request.

    >>> ChurnOp("vmalloc", None, 4096, 1).op
    'vmalloc'
    """

    op: str
    addr: int | None
    size: int
    align: int


#: The ``lib/test_vmalloc.c`` cases :class:`Churn` can imitate, in the module's test order.
CHURN_CASES: Final = ("fix_size_alloc_test", "full_fit_alloc_test", "long_busy_list_alloc_test",
                      "random_size_alloc_test", "fix_align_alloc_test",
                      "random_size_align_alloc_test")

_RANDOM_VICTIM_CASES: Final = ("fix_size_alloc_test", "random_size_alloc_test",
                               "fix_align_alloc_test", "random_size_align_alloc_test")


class Churn:
    """Background vmalloc/vfree traffic in the pattern of one ``lib/test_vmalloc.c`` case,
    one operation per :meth:`step`, seeded (``random.Random(seed)``), at most ``max_live``
    areas held at a time.

    Patterns (sizes as the test module requests them; the caller recorded is the case name):

    - ``fix_size_alloc_test``: ``vmalloc(PAGE_SIZE)`` (the module's ``nr_pages`` default);
    - ``random_size_alloc_test``: ``vmalloc(n * PAGE_SIZE)``, ``n`` uniform in 1..100;
    - ``fix_align_alloc_test``: ``__vmalloc_node(5 * PAGE_SIZE, THREAD_ALIGN << 1)``,
      ``THREAD_ALIGN`` 16 KiB (32 KiB with KASAN);
    - ``random_size_align_alloc_test``: a random byte ``r``, ``__vmalloc_node(((r % 10) + 1)
      * PAGE_SIZE, 1 << (r % 23))``;

      these four allocate while fewer than ``max_live`` areas are held and free a random
      held one when full;
    - ``full_fit_alloc_test``: one-page areas allocated in pairs until ``max_live`` are held,
      then the second of each pair freed (leaving exact-fit holes once purged), then
      ``vmalloc(PAGE_SIZE)`` and its ``vfree`` alternately;
    - ``long_busy_list_alloc_test``: ``max_live`` one-page areas (the busy list; the test
      uses 15 000), then ``vmalloc(100 pages)``, ``vmalloc(1 page)``, and their two frees.

    The last two are deterministic (the seed is unused); the pointer arrays the test module
    itself vmallocs are left out. O(log areas) plus O(pages) per step.

    >>> from kvalloc import Kernel
    >>> k = Kernel(); c = Churn(k, "random_size_alloc_test", seed=1, max_live=2)
    >>> [op.op for op in (c.step(), c.step(), c.step())], c.live
    (['vmalloc', 'vmalloc', 'vfree'], 1)
    >>> c.release(); k.stats().vmap_areas
    0
    """

    def __init__(self, k: Kernel, case: str, seed: int, *, max_live: int = 64) -> None:
        self.k = _require_kernel(k)
        require_str("case", case)
        if case not in CHURN_CASES:
            raise ValueError(f"case must be one of {', '.join(CHURN_CASES)}; got {case!r}")
        #: The test case imitated.
        self.case = case
        #: The seed of :attr:`rng`.
        self.seed = require_int("seed", seed)
        #: The most areas held at once.
        self.max_live = require_int("max_live", max_live, 1, 1 << 20)
        #: The generator of sizes, alignments and victims.
        self.rng = random.Random(seed)
        #: Steps taken, and vmallocs the kernel refused.
        self.steps = 0
        self.failures = 0
        self._live: list[tuple[int, int, int]] = []        # (addr, size, align)
        self._junk: list[tuple[int, int, int]] = []        # full_fit: the second of each pair
        self._phase = 0
        self._cycle: list[tuple[int, int, int]] = []       # the areas of the current loop
        thread_align = (32 if k.config.kasan != "off" else 16) << 10
        self._request: Callable[[], tuple[int, int]] = {
            "fix_size_alloc_test": lambda: (PAGE_SIZE, 1),
            "random_size_alloc_test": lambda: (self.rng.randint(1, 100) * PAGE_SIZE, 1),
            "fix_align_alloc_test": lambda: (5 * PAGE_SIZE, thread_align << 1),
            "random_size_align_alloc_test": self._random_size_align,
        }.get(case, lambda: (PAGE_SIZE, 1))

    def __repr__(self) -> str:
        return f"Churn({self.case!r}, seed={self.seed}, live={self.live}, steps={self.steps})"

    @property
    def live(self) -> int:
        """The number of areas held now. O(1).

        >>> from kvalloc import Kernel
        >>> Churn(Kernel(), "fix_size_alloc_test", 0).live
        0
        """
        return len(self._live) + len(self._junk) + len(self._cycle)

    def _random_size_align(self) -> tuple[int, int]:
        rnd = self.rng.getrandbits(8)
        return ((rnd % 10) + 1) * PAGE_SIZE, 1 << (rnd % 23)

    def _alloc(self, size: int, align: int) -> tuple[ChurnOp, tuple[int, int, int] | None]:
        if align == 1:
            p = self.k.vmalloc(size, caller=self.case)
        else:
            p = self.k.vmalloc(size, GFP.KERNEL | GFP.ZERO, align=align, caller=self.case)
        if p is None:
            self.failures += 1
            return ChurnOp("vmalloc", None, size, align), None
        return ChurnOp("vmalloc", p, size, align), (p, size, align)

    def _free(self, area: tuple[int, int, int]) -> ChurnOp:
        self.k.vfree(area[0])
        return ChurnOp("vfree", area[0], area[1], area[2])

    def step(self) -> ChurnOp:
        """Perform one vmalloc or vfree and return it. O(log areas) plus O(pages).

        >>> from kvalloc import Kernel
        >>> c = Churn(Kernel(), "long_busy_list_alloc_test", seed=0, max_live=1)
        >>> [(op.op, op.size // 4096) for op in (c.step(), c.step(), c.step(), c.step(), c.step())]
        [('vmalloc', 1), ('vmalloc', 100), ('vmalloc', 1), ('vfree', 100), ('vfree', 1)]
        """
        self.steps += 1
        with self.k.machine.lock:
            if self.case in _RANDOM_VICTIM_CASES:
                return self._step_random()
            if self.case == "full_fit_alloc_test":
                return self._step_full_fit()
            return self._step_long_busy_list()

    def _step_random(self) -> ChurnOp:
        live = self._live
        if len(live) >= self.max_live:
            i = self.rng.randrange(len(live))
            live[i], live[-1] = live[-1], live[i]
            return self._free(live.pop())
        op, area = self._alloc(*self._request())
        if area is not None:
            live.append(area)
        return op

    def _step_full_fit(self) -> ChurnOp:
        if self._phase == 0:                       # pairs: ptr[i], then junk_ptr[i]
            pair_second = (len(self._live) + len(self._junk)) % 2 == 1
            op, area = self._alloc(PAGE_SIZE, 1)
            if area is not None:
                (self._junk if pair_second else self._live).append(area)
            if self.live >= self.max_live or op.addr is None:
                self._phase = 1
            return op
        if self._phase == 1 and self._junk:        # vfree every junk_ptr[i]
            op = self._free(self._junk.pop(0))
            if not self._junk:
                self._phase = 2
            return op
        self._phase = 2                            # the loop: vmalloc(PAGE_SIZE), vfree
        if self._cycle:
            return self._free(self._cycle.pop())
        op, area = self._alloc(PAGE_SIZE, 1)
        if area is not None:
            self._cycle.append(area)
        return op

    def _step_long_busy_list(self) -> ChurnOp:
        if self._phase == 0:                       # the busy list
            op, area = self._alloc(PAGE_SIZE, 1)
            if area is not None:
                self._live.append(area)
            if len(self._live) >= self.max_live or area is None:
                self._phase = 1
            return op
        cycle = self._cycle                        # ptr_1 = 100 pages, ptr_2 = 1 page,
        if self._phase in (3, 4) and not cycle:    # vfree(ptr_1), vfree(ptr_2)
            self._phase = 1                        # (both vmallocs were refused)
        if self._phase in (1, 2):
            op, area = self._alloc(100 * PAGE_SIZE if self._phase == 1 else PAGE_SIZE, 1)
            if area is not None:
                cycle.append(area)
            self._phase += 1
            return op
        op = self._free(cycle.pop(0))
        self._phase = 4 if self._phase == 3 and cycle else 1
        return op

    def release(self) -> None:
        """Free every area held, newest first, and start the pattern over (the generator
        goes on where it was). O(areas + pages).

        >>> from kvalloc import Kernel
        >>> k = Kernel(); c = Churn(k, "fix_size_alloc_test", 0); _ = c.step(); c.release()
        >>> c.live, k.stats().vmap_areas
        (0, 0)
        """
        with self.k.machine.lock:
            for held in (self._cycle, self._junk, self._live):
                while held:
                    self.k.vfree(held.pop()[0])
            self._phase = 0


# -- fragmentation ------------------------------------------------------------------------


def fragmentation(k: Kernel) -> dict[str, int]:
    """The fragmentation columns of the module docstring, in :data:`FRAGMENTATION_COLUMNS`
    order. Reads ``k.machine`` under the kernel lock, changes nothing. O(free blocks + pooled
    and lazy areas).

    >>> from kvalloc import Kernel
    >>> fragmentation(Kernel())
    {'free_areas': 1, 'largest_hole_bytes': 0, 'va_span_bytes': 0, 'lazy_va_bytes': 0, 'purges': 0}
    """
    _require_kernel(k)
    m = k.machine
    with m.lock:
        kva = m.kva
        top = VMALLOC_START
        for tree in (kva.busy, kva.lazy):
            va = tree.overlap(VMALLOC_START, VMALLOC_END)   # the highest area in the range
            if va is not None:
                top = max(top, min(va.va_end, VMALLOC_END))
        free_areas = largest = 0
        spans = sorted([*kva.free, *((va.va_start, va.va_end) for _, va in kva.pooled())])
        blocks: list[tuple[int, int]] = []
        for s, e in spans:                     # a pooled area joins its free neighbours
            if blocks and blocks[-1][1] == s:
                blocks[-1] = (blocks[-1][0], e)
            else:
                blocks.append((s, e))
        for s, e in blocks:
            if e <= VMALLOC_START or s >= VMALLOC_END:
                continue
            free_areas += 1
            hole = min(e, top) - max(s, VMALLOC_START)
            largest = max(largest, hole)
        lazy = kva.vmap_lazy_nr * PAGE_SIZE            # INV-KVA-4: the lazy areas' pages
        return {"free_areas": free_areas, "largest_hole_bytes": largest,
                "va_span_bytes": top - VMALLOC_START, "lazy_va_bytes": lazy,
                "purges": kva.nr_purges}
