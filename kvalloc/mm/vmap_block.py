"""Per-CPU vmap blocks of mm/vmalloc.c: ``vb_alloc``, ``vb_free``, ``purge_fragmented_blocks``
and the block half of ``_vm_unmap_aliases`` (docs/mm.md#vmap-blocks).

A ``vm_map_ram`` of at most ``VMAP_MAX_ALLOC`` pages does not get its own vmap area: it is
carved from a block, one ``VMAP_BLOCK_SIZE`` area aligned to its size and typed
``VMAP_RAM | VMAP_BLOCK``. A request takes ``1 << get_order(size)`` pages from the block's
never-used tail (``pages_off = VMAP_BBMAP_BITS - free``; freed ranges are never reused);
``vb_free`` unmaps the range without a TLB flush and adds it to the block's dirty count and
dirty range. A block whose pages are all dirty is freed lazily, like any vmap area; a
fragmented block (``free + dirty == VMAP_BBMAP_BITS``) is purged by ``vm_unmap_aliases`` when
``free < VMAP_PURGE_THRESHOLD``, and whatever its free count when the KVA allocator is out of
space (``reclaim_and_purge_vmap_areas``). Allocation runs on CPU 0, so only CPU 0's free list
holds blocks.

Invariants (``Kernel.check``, :meth:`VmapBlocks.check`):
    - every block's area is busy (or lost to a ``vfree``), typed ``VMAP_RAM | VMAP_BLOCK``,
      ``VMAP_BLOCK_SIZE`` long and aligned to it, and every busy ``VMAP_BLOCK`` area has a block;
    - ``used_map`` is exactly the union of the live ranges, each ``1 << order`` bits, all
      below ``VMAP_BBMAP_BITS - free``; ``popcount(used_map) + dirty + free ==
      VMAP_BBMAP_BITS``;
    - a block is on the free list iff ``free > 0``;
    - inside a block, exactly the first ``count`` pages of each live range are mapped.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from ..constants import (
    PAGE_SHIFT,
    VMALLOC_END,
    VMALLOC_START,
    VMAP_BBMAP_BITS,
    VMAP_BLOCK,
    VMAP_BLOCK_SIZE,
    VMAP_MAX_ALLOC,
    VMAP_RAM,
)
from ..errors import KernelBug
from ..gfp import GFP_RECLAIM_MASK
from .vmalloc_types import VmapArea

if TYPE_CHECKING:
    from .pgtable import PageTable
    from .printk import KernelLog
    from .slab import SlabAllocator
    from .vmap_area import VmapAreaAllocator

#: ``VMAP_PURGE_THRESHOLD``: a fragmented block is purged on demand below this many free pages.
VMAP_PURGE_THRESHOLD: Final = VMAP_BBMAP_BITS // 4
#: ``sizeof(struct vmap_block)`` on x86_64 without lock debugging (a ``kmalloc-256`` object).
SIZEOF_VMAP_BLOCK: Final = 232

_VB_BASE: Final = VMALLOC_START & ~(VMAP_BLOCK_SIZE - 1)


def get_order(size: int) -> int:
    """``get_order``: the smallest order whose pages hold ``size`` bytes (``size > 0``)."""
    return ((size - 1) >> PAGE_SHIFT).bit_length()


def addr_to_vb_idx(addr: int) -> int:
    """``addr_to_vb_idx``: the block index of an address."""
    return (addr - _VB_BASE) // VMAP_BLOCK_SIZE


class VmapBlock:
    """``struct vmap_block``. ``maps`` (offset -> mapped page count) is kvalloc's own record
    of the live ranges, for ``check()`` and KASAN; the kernel keeps only ``used_map``."""

    __slots__ = ("va", "free", "dirty", "dirty_min", "dirty_max", "used_map", "cpu", "addr",
                 "maps")

    def __init__(self, va: VmapArea, addr: int, order: int) -> None:
        self.va = va
        self.addr = addr                          # the kmalloc'd struct itself
        self.free = VMAP_BBMAP_BITS - (1 << order)
        self.dirty = 0
        self.dirty_min = VMAP_BBMAP_BITS
        self.dirty_max = 0
        self.used_map = (1 << (1 << order)) - 1   # a bitmap as an int: bit i is page i
        self.cpu = 0
        self.maps: dict[int, int] = {}

    def __repr__(self) -> str:
        return (f"VmapBlock({self.va.va_start:#x}, free={self.free}, dirty={self.dirty}, "
                f"live={len(self.maps)})")


class VmapBlocks:
    """The per-CPU ``vmap_block_queue``s: every block by index (the per-CPU xarrays, merged)
    and CPU 0's free list, in the order blocks were made."""

    def __init__(self, log: KernelLog, pgtable: PageTable, kva: VmapAreaAllocator,
                 slab: SlabAllocator) -> None:
        self.log = log
        self.pgtable = pgtable
        self.kva = kva
        self.slab = slab
        self.blocks: dict[int, VmapBlock] = {}
        self.free_list: list[VmapBlock] = []
        kva.reclaim = self.purge_fragmented_blocks_allcpus

    def __len__(self) -> int:
        return len(self.blocks)

    def block_of(self, addr: int) -> VmapBlock | None:
        """``xa_load(addr_to_vb_xa(addr), addr_to_vb_idx(addr))``."""
        return self.blocks.get(addr_to_vb_idx(addr))

    # -- vb_alloc / vb_free -----------------------------------------------------------

    def vb_alloc(self, size: int, gfp: int) -> int | None:
        """``vb_alloc``: ``1 << get_order(size)`` pages from the first block on the free list
        with room, else from a new block. ``size`` is a positive multiple of ``PAGE_SIZE``
        of at most ``VMAP_MAX_ALLOC`` pages. Returns the address, or None. O(blocks)."""
        order = get_order(size)
        n = 1 << order
        for vb in self.free_list:
            if vb.free < n:
                continue
            pages_off = VMAP_BBMAP_BITS - vb.free
            vb.free -= n
            vb.used_map |= ((1 << n) - 1) << pages_off
            if not vb.free:
                self.free_list.remove(vb)
            vb.maps[pages_off] = size >> PAGE_SHIFT
            return vb.va.va_start + (pages_off << PAGE_SHIFT)
        return self.new_vmap_block(order, size, gfp)

    def new_vmap_block(self, order: int, size: int, gfp: int) -> int | None:
        """``new_vmap_block``: kmalloc the struct, reserve a block-aligned area, take the
        first ``1 << order`` pages of it."""
        addr = self.slab.kmalloc(SIZEOF_VMAP_BLOCK, gfp & GFP_RECLAIM_MASK)
        if not addr:
            return None
        va = self.kva.alloc_vmap_area(VMAP_BLOCK_SIZE, VMAP_BLOCK_SIZE, VMALLOC_START,
                                      VMALLOC_END, gfp, VMAP_RAM | VMAP_BLOCK, None)
        if isinstance(va, int):
            self.slab.kfree(addr)
            return None
        vb = VmapBlock(va, addr, order)
        vb.maps[0] = size >> PAGE_SHIFT
        self.blocks[addr_to_vb_idx(va.va_start)] = vb
        self.free_list.append(vb)
        return va.va_start

    def vb_lookup(self, addr: int, size: int) -> tuple[VmapBlock, int]:
        """The block and page offset of the live range ``vb_free(addr, size)`` would free.

        The kernel dereferences a NULL block for an address no block holds and corrupts the
        block's counts for a range that is not live; kvalloc raises :class:`KernelBug` for
        both, before anything changes.
        """
        vb = self.block_of(addr)
        if vb is None:
            raise KernelBug(f"BUG: kernel NULL pointer dereference in vb_free: no vmap block "
                            f"holds {addr:#x}")
        offset = (addr & (VMAP_BLOCK_SIZE - 1)) >> PAGE_SHIFT
        count = size >> PAGE_SHIFT
        if vb.maps.get(offset) != count:
            raise KernelBug(f"vb_free: {count} pages at {addr:#x} are not a live vm_map_ram "
                            "range of their block (the kernel would corrupt its counts)")
        return vb, offset

    def vb_free(self, addr: int, size: int) -> None:
        """``vb_free``: clear the range's bits, unmap it without a TLB flush, and mark it
        dirty; a block whose pages are all dirty is freed. O(pages of the range)."""
        vb, offset = self.vb_lookup(addr, size)
        n = 1 << get_order(size)
        del vb.maps[offset]
        vb.used_map &= ~(((1 << n) - 1) << offset)
        self.pgtable.vunmap_range_noflush(addr, addr + size)
        vb.dirty_min = min(vb.dirty_min, offset)
        vb.dirty_max = max(vb.dirty_max, offset + n)
        vb.dirty += n
        if vb.dirty == VMAP_BBMAP_BITS:
            if vb.free:
                raise self.log.BUG("vb_free", "a fully dirty block has free pages")
            self.free_vmap_block(vb)

    def free_vmap_block(self, vb: VmapBlock) -> None:
        """``free_vmap_block``: drop the block from the index, unlink its area from the busy
        tree and free it lazily; then free the struct (``kfree_rcu``, at once here)."""
        del self.blocks[addr_to_vb_idx(vb.va.va_start)]
        kva = self.kva
        va = vb.va
        if kva.busy.find(va.va_start) is va:
            kva.find_unlink_vmap_area(va.va_start)
        else:                                    # lost to vfree(): __unlink_va's WARN_ON
            self.log.WARN_ON("__unlink_va")
            kva.leaked.remove(va)
        kva.free_vmap_area_noflush(va)
        self.slab.kfree(vb.addr)

    # -- purging ----------------------------------------------------------------------

    def purge_fragmented_block(self, vb: VmapBlock, purge_list: list[VmapBlock],
                               force_purge: bool) -> bool:
        """``purge_fragmented_block``: take a block with nothing live off the free list for
        freeing, if it is below the purge threshold or ``force_purge``."""
        if vb.free + vb.dirty != VMAP_BBMAP_BITS or vb.dirty == VMAP_BBMAP_BITS:
            return False
        if not (force_purge or vb.free < VMAP_PURGE_THRESHOLD):
            return False
        vb.free = 0
        vb.dirty = VMAP_BBMAP_BITS
        vb.dirty_min, vb.dirty_max = 0, VMAP_BBMAP_BITS
        if vb in self.free_list:
            self.free_list.remove(vb)
        purge_list.append(vb)
        return True

    def purge_fragmented_blocks_allcpus(self) -> None:
        """``purge_fragmented_blocks_allcpus``: free every block with nothing live in it."""
        purge: list[VmapBlock] = []
        for vb in list(self.free_list):
            self.purge_fragmented_block(vb, purge, True)
        for vb in purge:
            self.free_vmap_block(vb)

    def unmap_aliases(self, start: int, end: int) -> tuple[int, int, bool]:
        """The block half of ``_vm_unmap_aliases``: purge fragmented blocks below the
        threshold, widen ``[start, end)`` over every other block's dirty range and forget it.
        Returns the range and whether a dirty range needs a flush. O(blocks)."""
        flush = False
        purge: list[VmapBlock] = []
        for idx in sorted(self.blocks):
            vb = self.blocks[idx]
            if not self.purge_fragmented_block(vb, purge, False) and vb.dirty_max and \
                    vb.dirty != VMAP_BBMAP_BITS:
                base = vb.va.va_start
                start = min(start, base + (vb.dirty_min << PAGE_SHIFT))
                end = max(end, base + (vb.dirty_max << PAGE_SHIFT))
                vb.dirty_min, vb.dirty_max = VMAP_BBMAP_BITS, 0
                flush = True
        for vb in purge:
            self.free_vmap_block(vb)
        return start, end, flush

    # -- views and invariants -----------------------------------------------------------

    def ranges(self, va: VmapArea) -> list[tuple[int, int, int]]:
        """The live ranges of the block of area ``va``: ``(start, end of its 1 << order pages,
        mapped bytes)``, in address order; empty if ``va`` is no block's."""
        vb = self.block_of(va.va_start)
        if vb is None or vb.va is not va:
            return []
        base = va.va_start
        return [(base + (off << PAGE_SHIFT), base + ((off + (1 << get_order(n << PAGE_SHIFT)))
                                                     << PAGE_SHIFT), n << PAGE_SHIFT)
                for off, n in sorted(vb.maps.items())]

    def check(self) -> None:
        """The invariants above; the first broken one raises :class:`KernelBug`."""
        kva = self.kva
        leaked = {id(va) for va in kva.leaked}
        for idx, vb in self.blocks.items():
            va = vb.va
            name = f"vmap block {va.va_start:#x}"
            if (kva.busy.find(va.va_start) is not va and id(va) not in leaked) or \
                    va.flags & (VMAP_RAM | VMAP_BLOCK) != VMAP_RAM | VMAP_BLOCK or \
                    va.va_end - va.va_start != VMAP_BLOCK_SIZE or \
                    va.va_start & (VMAP_BLOCK_SIZE - 1) or addr_to_vb_idx(va.va_start) != idx:
                raise KernelBug(f"INV-VB-1: {name} is not a busy, aligned VMAP_BLOCK area")
            if not self.slab.is_live(vb.addr):
                raise KernelBug(f"INV-VB-1: {name} struct {vb.addr:#x} is not allocated")
            used = 0
            top = VMAP_BBMAP_BITS - vb.free
            for off, n in vb.maps.items():
                bits = 1 << get_order(n << PAGE_SHIFT)
                if not 1 <= n <= VMAP_MAX_ALLOC or off + bits > top or used >> off & ((1 << bits) - 1):
                    raise KernelBug(f"INV-VB-2: {name} range at page {off} is out of place")
                used |= ((1 << bits) - 1) << off
            if used != vb.used_map or not 0 <= vb.free <= VMAP_BBMAP_BITS or \
                    used.bit_count() + vb.dirty + vb.free != VMAP_BBMAP_BITS:
                raise KernelBug(f"INV-VB-2: {name} used_map, free {vb.free} and dirty "
                                f"{vb.dirty} do not add up")
            if (vb in self.free_list) != (vb.free > 0):
                raise KernelBug(f"INV-VB-3: {name} with {vb.free} free pages is "
                                f"{'' if vb in self.free_list else 'not '}on the free list")
            mapped = {off + i for off, n in vb.maps.items() for i in range(n)}
            vpn = va.va_start >> PAGE_SHIFT
            translate = self.pgtable.translate_vmalloc
            for i in range(top):
                if (translate(vpn + i) is not None) != (i in mapped):
                    raise KernelBug(f"INV-VB-4: {name} page {i} is "
                                    f"{'un' if i in mapped else ''}mapped")
        for va in kva.busy:
            if va.flags & VMAP_BLOCK:
                b = self.block_of(va.va_start)
                if b is None or b.va is not va:
                    raise KernelBug(f"INV-VB-1: VMAP_BLOCK area {va.va_start:#x} has no block")
        if len(set(map(id, self.free_list))) != len(self.free_list):
            raise KernelBug("INV-VB-3: a block is on the free list twice")

