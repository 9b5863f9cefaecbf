"""kmalloc on a simple slab model (mm/slub.c, docs/mm.md#slab-model).

One cache per size class (``kmalloc-8`` ... ``kmalloc-8k``); a slab is one compound block
holding objects at ``0, class, 2*class, ...`` from its direct-map address. Allocation takes
the lowest free object of the lowest-addressed partial slab; an empty slab goes straight back
to the page allocator. Requests above 8 KiB are large kmallocs: one compound block each.

Invariants (``check``): each slab's free plus live objects equals its capacity; every frame
of a slab maps back to it; ``partial`` holds exactly the slabs with free and live objects.

Example:
    >>> from kvalloc import Kernel
    >>> k = Kernel()
    >>> p = k.kmalloc(100)
    >>> k.ksize(p)
    128
"""

from __future__ import annotations

import heapq
from typing import TYPE_CHECKING, Final

from ..constants import (
    KMALLOC_CLASSES,
    KMALLOC_MAX_CACHE_SIZE,
    MAX_PAGE_ORDER,
    PAGE_OFFSET,
    PAGE_SHIFT,
    PAGE_SIZE,
    ZERO_SIZE_PTR,
    get_order,
)
from ..errors import KernelBug
from ..gfp import G
from .page_alloc import OWNER_LARGE_KMALLOC, OWNER_SLAB, Block, FreeList

if TYPE_CHECKING:
    from .fault_inject import FaultInjection
    from .page_alloc import PageAllocator
    from .printk import KernelLog


def kmalloc_class(size: int) -> int:
    """The kmalloc size class of ``1 <= size <= 8192``.

    >>> [kmalloc_class(n) for n in (1, 9, 65, 97, 129, 193, 4097)]
    [8, 16, 96, 128, 192, 256, 8192]
    """
    if size <= 8:
        return 8
    if 64 < size <= 96:
        return 96
    if 128 < size <= 192:
        return 192
    return 1 << (size - 1).bit_length()


#: ``kmalloc_class(size)`` by ``(size + 7) >> 3``: every class is a multiple of 8 bytes, so a
#: size and its round-up to 8 share a class (one tuple index on the kmalloc path, not a call)
_CLASS_BY_GRANULE: Final = tuple(kmalloc_class(max(1, g * 8))
                                 for g in range((KMALLOC_MAX_CACHE_SIZE >> 3) + 1))


def _slab_order(size: int) -> int:
    objs_bytes = 8 * size
    pages = -(-objs_bytes // PAGE_SIZE)
    return min(3, (pages - 1).bit_length())


class Slab:
    """One slab: a compound block carved into equal objects (as many as its block holds:
    the cache's preferred order, or the minimum order after a fallback)."""

    __slots__ = ("cache", "block", "base", "objects", "free", "live")

    def __init__(self, cache: KmemCache, block: Block) -> None:
        self.cache = cache
        self.block = block
        self.base = PAGE_OFFSET + block.pfn * PAGE_SIZE
        self.objects = (PAGE_SIZE << block.order) // cache.size
        self.free = list(range(self.objects))    # a heap: lowest free index first
        self.live = bytearray(self.objects)      # 1 where an object is allocated


class KmemCache:
    """``kmalloc-<size>``: the slabs of one size class."""

    __slots__ = ("name", "size", "order", "min_order", "objects", "partial", "slabs")

    def __init__(self, size: int) -> None:
        self.size = size
        self.name = f"kmalloc-{size // 1024}k" if size >= 1024 else f"kmalloc-{size}"
        self.order = _slab_order(size)              # oo: the preferred slab order
        self.min_order = get_order(size)            # s->min: one object's order
        self.objects = (PAGE_SIZE << self.order) // size
        self.partial = FreeList()                       # base addresses of partial slabs
        self.slabs: dict[int, Slab] = {}                # base address -> slab


class SlabAllocator:
    """``kmalloc`` / ``kfree`` / ``ksize`` over the page allocator."""

    def __init__(self, mem: PageAllocator, fault: FaultInjection, log: KernelLog,
                 init_on_alloc: bool, init_on_free: bool) -> None:
        self.mem = mem
        self.fault = fault
        self.log = log
        self.init_on_alloc = init_on_alloc
        self.init_on_free = init_on_free
        self.caches = {size: KmemCache(size) for size in KMALLOC_CLASSES}
        self.slab_of_pfn: dict[int, Slab] = {}
        self.large: dict[int, Block] = {}
        self.nr_slab_pages = 0
        #: Bytes of objects zeroed (``Kernel.work().bytes_zeroed``): the whole object, as
        #: slab_post_alloc_hook() for ``__GFP_ZERO`` / ``init_on_alloc`` and
        #: slab_free_hook() for ``init_on_free`` memset it.
        self.nr_bytes_zeroed = 0

    def _zero(self, addr: int, size: int) -> None:
        """Uninstrumented zeroing through the direct map (counted in ``nr_bytes_zeroed``)."""
        self.nr_bytes_zeroed += size
        pfn, off = divmod(addr - PAGE_OFFSET, PAGE_SIZE)
        zero_run = self.mem.zero_run
        if off + size <= PAGE_SIZE:                 # a slab object: one piece
            zero_run(pfn, off, size)
            return
        while size > 0:
            n = min(size, PAGE_SIZE - off)
            zero_run(pfn, off, n)
            size -= n
            pfn, off = pfn + 1, 0

    def kmalloc(self, size: int, gfp: int) -> int | None:
        """``kmalloc``: a slab object, a large kmalloc block, or ``ZERO_SIZE_PTR`` for 0."""
        if size == 0:
            return ZERO_SIZE_PTR
        if size > KMALLOC_MAX_CACHE_SIZE:
            return self._kmalloc_large(size, gfp)
        attr = self.fault.slab
        if attr.armed and not gfp & G.NOFAIL and self.fault.should_fail(attr, bool(gfp & G.NOWARN)):
            return None
        cache = self.caches[_CLASS_BY_GRANULE[(size + 7) >> 3]]
        if cache.partial.live:
            slab = cache.slabs[cache.partial.lowest()]
        else:
            block = self._allocate_slab(cache, gfp & ~(G.ZERO | G.ACCOUNT))
            if block is None:
                return None
            slab = Slab(cache, block)
            cache.slabs[slab.base] = slab
            cache.partial.add(slab.base)
            for pfn in range(block.pfn, block.pfn + (1 << block.order)):
                self.slab_of_pfn[pfn] = slab
            self.nr_slab_pages += 1 << block.order
        idx = heapq.heappop(slab.free)
        slab.live[idx] = 1
        if not slab.free:
            cache.partial.remove(slab.base)
        addr = slab.base + idx * cache.size
        if self.init_on_alloc or gfp & G.ZERO:
            self._zero(addr, cache.size)
        return addr

    def _allocate_slab(self, cache: KmemCache, gfp: int) -> Block | None:
        """``allocate_slab`` (mm/slub.c): the preferred order first, allowed to fail quietly
        (``__GFP_NOWARN | __GFP_NORETRY``, no ``__GFP_NOFAIL``), then the minimum order
        with the caller's flags ("Allocation may have failed due to fragmentation")."""
        if cache.order > cache.min_order:
            block = self.mem.alloc_pages((gfp | G.NOWARN | G.NORETRY) & ~G.NOFAIL, cache.order,
                                         OWNER_SLAB)
            if block is not None:
                return block
        return self.mem.alloc_pages(gfp, cache.min_order, OWNER_SLAB)

    def _kmalloc_large(self, size: int, gfp: int) -> int | None:
        order = get_order(size)
        if order > MAX_PAGE_ORDER:
            if not gfp & G.NOWARN:
                self.log.WARN_ONCE("__alloc_pages_noprof", None, site="__alloc_pages_noprof:order")
            return None
        block = self.mem.alloc_pages(gfp, order, OWNER_LARGE_KMALLOC)
        if block is None:
            return None
        addr = PAGE_OFFSET + block.pfn * PAGE_SIZE
        self.large[addr] = block
        return addr

    def _slab_object(self, addr: int, what: str) -> tuple[Slab, int]:
        slab = self.slab_of_pfn.get((addr - PAGE_OFFSET) >> PAGE_SHIFT)
        if slab is not None:
            idx, rem = divmod(addr - slab.base, slab.cache.size)
            if not rem and 0 <= idx < slab.objects and slab.live[idx]:
                return slab, idx
        raise self.log.BUG(what, f"{addr:#x} is not a live kmalloc object")

    def kfree(self, addr: int) -> None:
        """``kfree``: NULL and ``ZERO_SIZE_PTR`` are ignored; anything else must be live."""
        if addr == 0 or addr == ZERO_SIZE_PTR:
            return
        block = self.large.pop(addr, None)
        if block is not None:
            self.mem.free_pages(block)
            return
        slab, idx = self._slab_object(addr, "kfree")
        cache = slab.cache
        if self.init_on_free:
            self._zero(addr, cache.size)
        if not slab.free:
            cache.partial.add(slab.base)
        slab.live[idx] = 0
        heapq.heappush(slab.free, idx)
        if len(slab.free) == slab.objects:
            cache.partial.remove(slab.base)
            del cache.slabs[slab.base]
            order = slab.block.order
            for pfn in range(slab.block.pfn, slab.block.pfn + (1 << order)):
                del self.slab_of_pfn[pfn]
            self.nr_slab_pages -= 1 << order
            self.mem.free_pages(slab.block)

    def ksize(self, addr: int) -> int:
        """The usable size of a live object: its class size, or the large block's size."""
        if addr == 0 or addr == ZERO_SIZE_PTR:
            return 0
        block = self.large.get(addr)
        if block is not None:
            return PAGE_SIZE << block.order
        slab, _ = self._slab_object(addr, "ksize")
        return slab.cache.size

    def is_live(self, addr: int) -> bool:
        """True for a live slab object or large kmalloc start."""
        if addr in self.large:
            return True
        slab = self.slab_of_pfn.get((addr - PAGE_OFFSET) >> PAGE_SHIFT)
        if slab is None:
            return False
        idx, rem = divmod(addr - slab.base, slab.cache.size)
        return not rem and 0 <= idx < slab.objects and bool(slab.live[idx])

    def check(self) -> None:
        """INV-CNT-2 (slab pages) and INV-CNT-3 (objects per slab)."""
        pages = 0
        for cache in self.caches.values():
            for base, slab in cache.slabs.items():
                live = sum(slab.live)
                objects = slab.objects
                if slab.block.order not in (cache.order, cache.min_order) or \
                        objects != (PAGE_SIZE << slab.block.order) // cache.size:
                    raise KernelBug(f"INV-CNT-3: {cache.name} slab {base:#x} of order "
                                    f"{slab.block.order} holds {objects} objects")
                if live + len(slab.free) != objects or sorted(slab.free) != [
                        i for i in range(objects) if not slab.live[i]]:
                    raise KernelBug(f"INV-CNT-3: {cache.name} slab {base:#x}: {live} live + "
                                    f"{len(slab.free)} free != {objects}")
                if (base in cache.partial) != (0 < live < objects) or not live:
                    raise KernelBug(f"INV-CNT-3: {cache.name} slab {base:#x} partial list wrong")
                if self.mem.blocks.get(slab.block.pfn) is not slab.block or slab.block.owner != OWNER_SLAB:
                    raise KernelBug(f"INV-PG-3: {cache.name} slab {base:#x} frames not owned by it")
                pages += 1 << slab.block.order
        if pages != self.nr_slab_pages:
            raise KernelBug(f"INV-CNT-2: slab_pages {self.nr_slab_pages} != {pages}")
        for addr, block in self.large.items():
            if self.mem.blocks.get(block.pfn) is not block:
                raise KernelBug(f"INV-PG-3: large kmalloc {addr:#x} block is not allocated")
