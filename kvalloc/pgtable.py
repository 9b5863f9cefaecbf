"""The kernel page table for the vmalloc range, the direct map, and memory access through them.

Leaf entries are 4 KiB PTEs (``pte[vpn] = pfn``) and 2 MiB PMD leaves
(``pmd[va >> 21] = first pfn of 512 aligned frames``). The direct map covers every simulated
frame at ``PAGE_OFFSET + pfn * 4096``. TLB contents are not modelled; translation always uses
the current table, and ``flush_tlb_kernel_range`` calls are only counted.

Invariants (checked from :mod:`kvalloc.check`): PTEs and PMD leaves never overlap; every PMD
leaf is 2 MiB aligned and maps a 512-aligned frame run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .constants import PAGE_OFFSET, PAGE_SHIFT, PAGE_SIZE, PMD_SHIFT
from .errors import PageFault

if TYPE_CHECKING:
    from .page_alloc import PageAllocator
    from .printk import KernelLog

_PTRS_PER_PMD = 512
ZERO_PAGE = memoryview(bytes(PAGE_SIZE))

#: One piece of an access: (pfn, offset in the frame, length).
Segment = tuple[int, int, int]


class PageTable:
    """Kernel page table plus ``read``/``write``/``memset``/``memcpy`` through it."""

    def __init__(self, mem: PageAllocator, log: KernelLog) -> None:
        self.mem = mem
        self.log = log
        self.pte: dict[int, int] = {}
        self.pmd: dict[int, int] = {}
        self.nr_tlb_flushes = 0
        self._direct_lo = (PAGE_OFFSET >> PAGE_SHIFT) + mem.start_pfn
        self._direct_hi = (PAGE_OFFSET >> PAGE_SHIFT) + mem.end_pfn
        self._direct_off = PAGE_OFFSET >> PAGE_SHIFT

    # -- mapping ----------------------------------------------------------------------

    def vmap_pages_range(self, addr: int, pfns: list[int], page_shift: int) -> bool:
        """Map ``pfns`` at ``addr``; PMD leaves where ``page_shift == 21`` and alignment allow.

        Returns False (after ``WARN_ON`` in ``vmap_pages_pte_range``) if an entry exists;
        nothing is mapped then.
        """
        pte, pmd = self.pte, self.pmd
        vpn0 = addr >> PAGE_SHIFT
        n = len(pfns)
        for i in range(n):
            if self.translate_vmalloc(vpn0 + i) is not None:
                self.log.WARN_ON("vmap_pages_pte_range")
                return False
        i = 0
        if page_shift == PMD_SHIFT:
            while i < n:
                vpn, pfn = vpn0 + i, pfns[i]
                if (not vpn % _PTRS_PER_PMD and not pfn % _PTRS_PER_PMD and i + _PTRS_PER_PMD <= n
                        and pfns[i + _PTRS_PER_PMD - 1] == pfn + _PTRS_PER_PMD - 1):
                    pmd[vpn >> 9] = pfn
                    i += _PTRS_PER_PMD
                else:
                    pte[vpn] = pfn
                    i += 1
        else:
            pte.update(zip(range(vpn0, vpn0 + n), pfns))
        return True

    def vunmap_range_noflush(self, start: int, end: int) -> None:
        """Remove every entry in ``[start, end)``; a PMD leaf goes whole."""
        pte, pmd = self.pte, self.pmd
        vpn, vend = start >> PAGE_SHIFT, (end + PAGE_SIZE - 1) >> PAGE_SHIFT
        if pmd:
            for idx in range(vpn >> 9, ((vend - 1) >> 9) + 1):
                pmd.pop(idx, None)
        if vend - vpn > len(pte):
            for k in [k for k in pte if vpn <= k < vend]:
                del pte[k]
        else:
            pop = pte.pop
            for k in range(vpn, vend):
                pop(k, None)

    def flush_tlb_kernel_range(self, start: int, end: int) -> None:
        """Count one kernel TLB flush (contents are not modelled)."""
        self.nr_tlb_flushes += 1

    # -- translation ------------------------------------------------------------------

    def translate_vmalloc(self, vpn: int) -> int | None:
        """The frame mapped at virtual page ``vpn`` by the page table (not the direct map)."""
        pfn = self.pte.get(vpn)
        if pfn is None and self.pmd:
            base = self.pmd.get(vpn >> 9)
            if base is not None:
                return base + (vpn & 511)
        return pfn

    def translate(self, vpn: int) -> int | None:
        """The frame behind virtual page ``vpn``: page table, then the direct map."""
        pfn = self.pte.get(vpn)
        if pfn is not None:
            return pfn
        if self.pmd:
            base = self.pmd.get(vpn >> 9)
            if base is not None:
                return base + (vpn & 511)
        if self._direct_lo <= vpn < self._direct_hi:
            return vpn - self._direct_off
        return None

    def segments(self, addr: int, size: int, write: bool) -> list[Segment]:
        """Split ``[addr, addr + size)`` into frame pieces, or oops on the first unmapped page."""
        out: list[Segment] = []
        translate = self.translate
        end = addr + size
        a = addr
        while a < end:
            off = a & (PAGE_SIZE - 1)
            n = PAGE_SIZE - off
            if n > end - a:
                n = end - a
            pfn = translate(a >> PAGE_SHIFT) if a < 1 << 64 else None
            if pfn is None:
                raise self.oops(a, write)
            out.append((pfn, off, n))
            a += n
        return out

    def oops(self, a: int, write: bool) -> PageFault:
        """Log the page-fault oops lines for address ``a`` and return the exception."""
        if a < PAGE_SIZE:
            first = f"BUG: kernel NULL pointer dereference, address: {a:016x}"
            msg = f"BUG: kernel NULL pointer dereference, address: {a:#x}"
        else:
            first = f"BUG: unable to handle page fault for address: {a:016x}"
            msg = f"BUG: unable to handle page fault for address: {a:#x}"
        log = self.log
        log.pr(first)
        log.pr(f"#PF: supervisor {'write' if write else 'read'} access in kernel mode")
        log.pr(f"#PF: error_code({'0x0002' if write else '0x0000'}) - not-present page")
        return PageFault(msg)

    # -- access (uninstrumented; KASAN checks happen in the caller) ---------------------

    def read(self, addr: int, size: int) -> bytes:
        """The bytes at ``[addr, addr + size)``; raises :class:`PageFault` if unmapped."""
        data = self.mem.data
        segs = self.segments(addr, size, False)
        if len(segs) == 1:
            pfn, off, n = segs[0]
            mv = data.get(pfn)
            return bytes(n) if mv is None else mv[off:off + n].tobytes()
        out = bytearray(size)
        pos = 0
        for pfn, off, n in segs:
            mv = data.get(pfn)
            if mv is not None:
                out[pos:pos + n] = mv[off:off + n]
            pos += n
        return bytes(out)

    def write(self, addr: int, data: bytes | bytearray | memoryview) -> None:
        """Store ``data`` at ``addr``; nothing is written if any page is unmapped."""
        src = memoryview(data).cast("B")
        frame = self.mem.frame
        pos = 0
        for pfn, off, n in self.segments(addr, len(src), True):
            frame(pfn)[off:off + n] = src[pos:pos + n]
            pos += n

    def memset(self, addr: int, value: int, size: int) -> None:
        """Fill ``size`` bytes with ``value & 0xff``."""
        segs = self.segments(addr, size, True)
        value &= 0xFF
        mem = self.mem
        if value == 0:
            data = mem.data
            for pfn, off, n in segs:
                mv = data.get(pfn)
                if mv is not None:   # zero in place: fast-path views of this frame stay valid
                    mv[off:off + n] = ZERO_PAGE[:n]
            return
        fill = memoryview(bytes([value]) * PAGE_SIZE)
        for pfn, off, n in segs:
            mem.frame(pfn)[off:off + n] = fill[:n]

    def memcpy(self, dst: int, src: int, size: int) -> None:
        """Copy ``size`` bytes; page-sized slice copies, no byte loops."""
        ssegs = self.segments(src, size, False)
        dsegs = self.segments(dst, size, True)
        mem = self.mem
        data, frame = mem.data, mem.frame
        if len(ssegs) == len(dsegs) and (src ^ dst) & (PAGE_SIZE - 1) == 0:
            # Same offsets within pages: the pieces line up one to one.
            for (spfn, soff, n), (dpfn, doff, _) in zip(ssegs, dsegs):
                smv = data.get(spfn)
                if smv is None:
                    dmv = data.get(dpfn)
                    if dmv is not None:
                        dmv[doff:doff + n] = ZERO_PAGE[:n]
                elif n == PAGE_SIZE:
                    dmv = data.get(dpfn)
                    if dmv is None:
                        data[dpfn] = memoryview(bytearray(smv))
                    else:
                        dmv[:] = smv
                else:
                    frame(dpfn)[doff:doff + n] = smv[soff:soff + n]
            return
        buf = self.read(src, size)
        self.write(dst, buf)
