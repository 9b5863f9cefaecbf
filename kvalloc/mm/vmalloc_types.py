"""The structures of ``include/linux/vmalloc.h``: ``struct vmap_area``, ``struct vm_struct``,
and the address-ordered tree that holds busy or lazily freed areas.

Both the KVA allocator (:mod:`.vmap_area`) and the vmalloc interfaces (:mod:`.vmalloc`)
use them, and KASAN describes a bad address by the area it falls in, so they live apart from
all three.
"""

from __future__ import annotations

import itertools
import operator
from bisect import bisect_left, bisect_right, insort
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, TypeAlias, overload

from ..constants import PAGE_SIZE
from ..errors import KernelBug
from ..vm_flags import V
from .page_alloc import SplitBlock

if TYPE_CHECKING:
    from .page_alloc import Block, PageAllocator

#: One run of slots of a :class:`PageArray`: ``(start, n, pfn, split)`` or
#: ``(start, n, -1, blocks)``.
Segment: TypeAlias = "tuple[int, int, int, SplitBlock | list[Block]]"
_PFN = operator.attrgetter("pfn")


def _clip(seg: Segment, a: int, b: int) -> Segment:
    """The part of ``seg`` over slots ``[a, b)`` (inside it)."""
    s, n, pfn, what = seg
    if a == s and b == s + n:
        return seg
    if type(what) is list:
        return a, b - a, -1, what[a - s:b - s]
    return a, b - a, pfn + a - s, what


class PageArray:
    """``vm_struct.pages``: ``len`` slots, one per 4 KiB page, each empty or holding an
    allocated page, kept as runs of slots (:data:`Segment`) instead of one entry a page:

    - ``(start, n, pfn, split)``: slot ``start + i`` holds frame ``pfn + i``, a page of the
      :class:`~kvalloc.mm.page_alloc.SplitBlock` ``split`` (once its Block is made, that is
      ``mem.blocks[pfn + i]``);
    - ``(start, n, -1, blocks)``: slot ``start + i`` holds ``blocks[i]``.

    ``pages[i]``, slices and iteration give Blocks (None for an empty slot), making the
    Blocks of the split pages they reach (O(slots) then); the vmalloc code walks
    :meth:`segments` instead, in O(runs).
    """

    __slots__ = ("mem", "_starts", "_segs", "_len")

    def __init__(self, mem: PageAllocator, n: int) -> None:
        self.mem = mem
        self._starts: list[int] = []
        self._segs: list[Segment] = []
        self._len = n

    def __len__(self) -> int:
        return self._len

    def __repr__(self) -> str:
        return f"PageArray({self._len} slots, {self.nr_filled()} filled in {len(self._segs)} runs)"

    def _item(self, seg: Segment, i: int) -> Block:
        s, _, pfn, what = seg
        if type(what) is list:
            return what[i - s]
        return self.mem.page_block(what, pfn + i - s)        # type: ignore[arg-type]

    @overload
    def __getitem__(self, i: int) -> Block | None: ...
    @overload
    def __getitem__(self, i: slice) -> list[Block | None]: ...

    def __getitem__(self, i: int | slice) -> Block | None | list[Block | None]:
        if isinstance(i, slice):
            start, stop, step = i.indices(self._len)
            if step == 1:
                out: list[Block | None] = []
                pos = start
                for seg in self.segments(start, stop):
                    out += itertools.repeat(None, seg[0] - pos)
                    out += [self._item(seg, j) for j in range(seg[0], seg[0] + seg[1])]
                    pos = seg[0] + seg[1]
                out += itertools.repeat(None, stop - pos)
                return out
            return [self[j] for j in range(start, stop, step)]
        if i < 0:
            i += self._len
        if not 0 <= i < self._len:
            raise IndexError(f"slot {i} of {self._len}")
        k = bisect_right(self._starts, i) - 1
        if k >= 0:
            seg = self._segs[k]
            if i < seg[0] + seg[1]:
                return self._item(seg, i)
        return None

    def __iter__(self) -> Iterator[Block | None]:
        pos = 0
        for seg in list(self._segs):
            s, n = seg[0], seg[1]
            yield from itertools.repeat(None, s - pos)
            for i in range(s, s + n):
                yield self._item(seg, i)
            pos = s + n
        yield from itertools.repeat(None, self._len - pos)

    def segments(self, start: int = 0, end: int | None = None) -> list[Segment]:
        """The filled runs of slots ``[start, end)``, in slot order, clipped to it. O(runs)."""
        segs = self._segs
        if end is None or end >= self._len:
            end = self._len
            if start <= 0:
                return segs[:]                     # the whole array: nothing to clip
        starts = self._starts
        out: list[Segment] = []
        for seg in segs[max(bisect_right(starts, start) - 1, 0):bisect_left(starts, end)]:
            a, b = max(seg[0], start), min(seg[0] + seg[1], end)
            if a < b:
                out.append(_clip(seg, a, b))
        return out

    def _insert(self, seg: Segment) -> None:
        at, n = seg[0], seg[1]
        starts, segs = self._starts, self._segs
        k = bisect_right(starts, at)
        if n < 1 or at < 0 or at + n > self._len or (k and starts[k - 1] + segs[k - 1][1] > at) \
                or (k < len(starts) and starts[k] < at + n):
            raise KernelBug(f"PageArray: slots {at}..{at + n} of {self._len} are not empty")
        starts.insert(k, at)
        segs.insert(k, seg)

    def set_run(self, at: int, n: int, pfn: int, split: SplitBlock) -> None:
        """Fill the empty slots ``[at, at + n)`` with frames ``pfn ..`` of ``split``. O(log runs)."""
        self._insert((at, n, pfn, split))

    def set_blocks(self, at: int, blocks: Iterable[Block]) -> None:
        """Fill the empty slots from ``at`` with ``blocks``. O(log runs + len(blocks))."""
        got = list(blocks)
        if got:
            self._insert((at, len(got), -1, got))

    def put(self, at: int, src: PageArray, start: int = 0, end: int | None = None) -> None:
        """Fill the empty slots from ``at`` with ``src``'s slots ``[start, end)`` (its empty
        ones stay empty). O(runs)."""
        for s, n, pfn, what in src.segments(start, end):
            self._insert((s - start + at, n, pfn, what))

    def clear(self, start: int, end: int) -> None:
        """Empty the slots ``[start, end)``. O(runs)."""
        starts, segs = self._starts, self._segs
        if start <= 0 and end >= self._len:
            segs.clear()
            starts.clear()
            return
        k0, k1 = max(bisect_right(starts, start) - 1, 0), bisect_left(starts, end)
        kept: list[Segment] = []
        for seg in segs[k0:k1]:
            s, e = seg[0], seg[0] + seg[1]
            if e <= start or s >= end:
                kept.append(seg)
                continue
            if s < start:
                kept.append(_clip(seg, s, start))
            if e > end:
                kept.append(_clip(seg, end, e))
        segs[k0:k1] = kept
        starts[k0:k1] = [seg[0] for seg in kept]

    def resize(self, n: int) -> None:
        """Have ``n`` slots: new ones are empty; dropped ones must be empty."""
        if n < self._len and self.nr_filled(n):
            raise KernelBug(f"PageArray: slots from {n} are not empty")
        self._len = n

    def pfns(self, start: int = 0, end: int | None = None) -> list[int]:
        """The frames of the filled slots of ``[start, end)``, in slot order. O(runs) Python
        work, O(slots) at C speed."""
        out: list[int] = []
        for _, n, pfn, what in self.segments(start, end):
            if type(what) is list:
                out += map(_PFN, what)
            else:
                out += range(pfn, pfn + n)
        return out

    def nr_filled(self, start: int = 0, end: int | None = None) -> int:
        """How many of the slots ``[start, end)`` are filled. O(runs)."""
        return sum(seg[1] for seg in self.segments(start, end))

    def check(self, name: str) -> None:
        """INV-VM-3 for the array itself: sorted, disjoint runs of slots inside it, each
        holding as many Blocks as slots, or frames inside its split block."""
        pos = 0
        if self._starts != [seg[0] for seg in self._segs]:
            raise KernelBug(f"INV-VM-3: {name} page array index differs from its runs")
        for s, n, pfn, what in self._segs:
            if n < 1 or s < pos or s + n > self._len:
                raise KernelBug(f"INV-VM-3: {name} page slots {s}..{s + n} overlap or "
                                f"leave the {self._len} slots")
            if type(what) is list:
                if len(what) != n:
                    raise KernelBug(f"INV-VM-3: {name} page slots {s}..{s + n} hold "
                                    f"{len(what)} pages")
            elif not isinstance(what, SplitBlock) or pfn < what.pfn or \
                    pfn + n > what.pfn + (1 << what.order):
                raise KernelBug(f"INV-VM-3: {name} page slots {s}..{s + n} are not frames of "
                                f"their split block")
            pos = s + n



class VmapArea:
    """``struct vmap_area``: a KVA range ``[va_start, va_end)``, its vm (if any) and type bits."""

    __slots__ = ("va_start", "va_end", "vm", "flags")

    def __init__(self, va_start: int, va_end: int, vm: VmStruct | None = None, flags: int = 0) -> None:
        self.va_start = va_start
        self.va_end = va_end
        self.vm = vm
        self.flags = flags

    def __repr__(self) -> str:
        return f"VmapArea({self.va_start:#x}-{self.va_end:#x})"


class VmStruct:
    """``struct vm_struct``: one vmalloc/vmap area.

    ``size`` includes the guard page; ``pages`` has one slot per 4 KiB page (also for huge
    mappings); ``pages_addr`` is the kernel address of the page array allocation.
    ``kasan_exact`` turns false once the area was resized in place through an interior
    pointer: KASAN then annotates from that pointer, so the shadow no longer follows
    ``requested_size`` from the start (the kernel does the same).
    """

    __slots__ = ("addr", "size", "flags", "pages", "page_order", "nr_pages", "caller",
                 "requested_size", "pages_addr", "va", "kasan_exact")

    def __init__(self, flags: int, caller: str, requested_size: int) -> None:
        self.addr = 0
        self.size = 0
        self.flags = int(flags)      # a plain int: hot paths test bits without building flags
        self.pages: PageArray | None = None
        self.page_order = 0
        self.nr_pages = 0
        self.caller = caller
        self.requested_size = requested_size
        self.pages_addr = 0
        self.va: VmapArea | None = None
        self.kasan_exact = True

    @property
    def area_size(self) -> int:
        """``get_vm_area_size``: the size without the guard page."""
        return self.size if self.flags & V.NO_GUARD else self.size - PAGE_SIZE


class SortedVAs:
    """Busy or lazy vmap areas keyed by start, with containment lookup (the kernel's
    address-ordered rb-tree). O(log n) operations.

    The starts are kept in address-ordered chunks of at most ``2 * load`` keys, each known by
    its first key (``_heads``), beside a dict from start to area: a lookup is two C bisects,
    an insert or removal one C ``insort`` or ``del`` in one chunk (a ``SortedList`` holds the
    same shape, with more Python work per update: 2.6 % of a one-page ``vmalloc`` + ``vfree``).

    Invariants (:meth:`check`): chunks are non-empty and sorted, each head is its chunk's
    first key and below the next chunk's, and the keys are exactly the dict's.

    >>> t = SortedVAs(); t.insert(VmapArea(0x1000, 0x3000)); t.find(0x2fff)
    VmapArea(0x1000-0x3000)
    >>> t.insert(VmapArea(0x2000, 0x4000))
    VmapArea(0x1000-0x3000)
    """

    __slots__ = ("_heads", "_chunks", "_map", "_load")

    def __init__(self, load: int = 256) -> None:
        self._heads: list[int] = []
        self._chunks: list[list[int]] = []
        self._map: dict[int, VmapArea] = {}
        self._load = load

    def __len__(self) -> int:
        return len(self._map)

    def __iter__(self) -> Iterator[VmapArea]:
        m = self._map
        return (m[s] for s in list(itertools.chain.from_iterable(self._chunks)))

    def find(self, addr: int) -> VmapArea | None:
        """The area with ``va_start <= addr < va_end``. O(1) for an area's start (the
        usual question), else O(log n)."""
        va = self._map.get(addr)
        if va is not None:
            return va
        c = bisect_right(self._heads, addr) - 1       # the last start <= addr
        if c < 0:
            return None
        chunk = self._chunks[c]
        va = self._map[chunk[bisect_right(chunk, addr) - 1]]
        return va if addr < va.va_end else None

    def overlap(self, start: int, end: int) -> VmapArea | None:
        """An area intersecting ``[start, end)``, if any (the one starting last below ``end``)."""
        c = bisect_left(self._heads, end) - 1         # the last start < end
        if c < 0:
            return None
        chunk = self._chunks[c]
        va = self._map[chunk[bisect_left(chunk, end) - 1]]
        return va if va.va_end > start else None

    def insert(self, va: VmapArea) -> VmapArea | None:
        """Link ``va``, unless an area intersects it: that area is returned and nothing
        changes (``find_va_links`` finding an overlap). O(log n)."""
        start = va.va_start
        heads, chunks = self._heads, self._chunks
        # overlap(), inlined (the hot path). The last start below va_end, when it does not
        # overlap, is below start: its chunk is the one start goes into.
        c = bisect_left(heads, va.va_end) - 1
        if c >= 0:
            chunk = chunks[c]
            other = self._map[chunk[bisect_left(chunk, va.va_end) - 1]]
            if other.va_end > start:
                return other
        else:                                         # below every start
            if not chunks:
                heads.append(start)
                chunks.append([start])
                self._map[start] = va
                return None
            c = 0
            heads[0] = start
        chunk = chunks[c]
        insort(chunk, start)
        load = self._load
        if len(chunk) > 2 * load:
            chunks.insert(c + 1, chunk[load:])
            heads.insert(c + 1, chunk[load])
            del chunk[load:]
        self._map[start] = va
        return None

    def remove(self, va: VmapArea) -> None:
        """Unlink ``va`` (which must be linked). O(log n)."""
        start = va.va_start
        del self._map[start]
        heads, chunks = self._heads, self._chunks
        c = bisect_right(heads, start) - 1
        chunk = chunks[c]
        j = bisect_left(chunk, start)
        del chunk[j]
        if not chunk:
            del chunks[c], heads[c]
        elif not j:
            heads[c] = chunk[0]

    def pop_all(self) -> list[VmapArea]:
        """Remove and return every area, in address order."""
        m = self._map
        out = [m[s] for chunk in self._chunks for s in chunk]
        self._heads, self._chunks, self._map = [], [], {}
        return out

    def check(self) -> None:
        """Verify the invariants above (raises AssertionError)."""
        keys: list[int] = []
        assert len(self._heads) == len(self._chunks), "one head per chunk"
        for head, chunk in zip(self._heads, self._chunks, strict=True):
            assert chunk and chunk[0] == head and chunk == sorted(chunk), "chunk order"
            assert not keys or keys[-1] < head, "chunks in address order"
            keys += chunk
        assert len(keys) == len(self._map) and set(keys) == set(self._map), "keys differ"
        assert all(self._map[s].va_start == s for s in keys), "area keyed by its start"
