"""The structures of ``include/linux/vmalloc.h``: ``struct vmap_area``, ``struct vm_struct``,
and the address-ordered tree that holds busy or lazily freed areas.

Both the KVA allocator (:mod:`.vmap_area`) and the vmalloc interfaces (:mod:`.vmalloc`)
use them, and KASAN describes a bad address by the area it falls in, so they live apart from
all three.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from sortedcontainers import SortedList

from ..constants import PAGE_SIZE
from ..vm_flags import V

if TYPE_CHECKING:
    from .page_alloc import Block



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
        self.pages: list[Block | None] | None = None
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
    """Busy or lazy vmap areas keyed by start, with containment lookup. O(log n) operations."""

    __slots__ = ("_starts", "_map")

    def __init__(self) -> None:
        self._starts: SortedList[int] = SortedList()
        self._map: dict[int, VmapArea] = {}

    def __len__(self) -> int:
        return len(self._map)

    def __iter__(self) -> Iterator[VmapArea]:
        m = self._map
        return (m[s] for s in list(self._starts))

    def find(self, addr: int) -> VmapArea | None:
        """The area with ``va_start <= addr < va_end``. O(1) for an area's start (the
        usual question), else O(log n)."""
        va = self._map.get(addr)
        if va is not None:
            return va
        starts = self._starts
        i = starts.bisect_right(addr) - 1
        if i < 0:
            return None
        va = self._map[starts[i]]
        return va if addr < va.va_end else None

    def overlap(self, start: int, end: int) -> VmapArea | None:
        """An area intersecting ``[start, end)``, if any."""
        starts = self._starts
        i = starts.bisect_left(end) - 1
        if i < 0:
            return None
        va = self._map[starts[i]]
        return va if va.va_end > start else None

    def insert(self, va: VmapArea) -> None:
        self._starts.add(va.va_start)
        self._map[va.va_start] = va

    def remove(self, va: VmapArea) -> None:
        self._starts.remove(va.va_start)
        del self._map[va.va_start]

    def pop_all(self) -> list[VmapArea]:
        """Remove and return every area, in address order."""
        m = self._map
        out = [m[s] for s in self._starts]
        self._starts = SortedList()
        self._map = {}
        return out
