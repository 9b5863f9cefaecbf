"""The kernel page table for the vmalloc range, the direct map, and memory access through them.

Leaf entries are 4 KiB PTEs (``pte[vpn] = pfn``) and 2 MiB PMD leaves
(``pmd[va >> 21] = first pfn of 512 aligned frames``). The direct map covers every simulated
frame at ``PAGE_OFFSET + pfn * 4096``. TLB contents are not modelled; translation always uses
the current table, and ``flush_tlb_kernel_range`` calls are only counted.

Invariants (checked from :mod:`kvalloc.mm.check`): PTEs and PMD leaves never overlap; every PMD
leaf is 2 MiB aligned and maps a 512-aligned frame run.

Beside the leaves, ``pte_runs[va >> 21] = pfn`` marks a 2 MiB-aligned PTE table whose 512
entries were mapped by one :meth:`PageTable.vmap_pages_range` call to the consecutive frames
``pfn ..``, and not unmapped since (an index of what the PTEs hold, never a mapping of its
own; :meth:`PageTable.check_pte_runs`). It lets :meth:`PageTable.memcpy` verify a large copy's
translation, and :meth:`PageTable.pfns` list a range's frames, per 512 pages instead of per
page. PTEs must therefore be changed only through
:meth:`~PageTable.vmap_pages_range` and :meth:`~PageTable.vunmap_range_noflush`, as all the
simulator does.
"""

from __future__ import annotations

import operator
from collections import deque
from itertools import repeat
from typing import TYPE_CHECKING, cast

from ..constants import PAGE_OFFSET, PAGE_SHIFT, PAGE_SIZE, PMD_SHIFT
from ..errors import KernelBug, PageFault
from .page_alloc import run_length

if TYPE_CHECKING:
    from .page_alloc import PageAllocator
    from .printk import KernelLog

_PTRS_PER_PMD = 512
_PMD_VPN_SHIFT = PMD_SHIFT - PAGE_SHIFT      # a PMD leaf covers 1 << 9 virtual pages
_PMD_VPN_MASK = _PTRS_PER_PMD - 1

#: One piece of an access: (pfn, offset in the frame, length).
Segment = tuple[int, int, int]


class PageTable:
    """Kernel page table plus ``read``/``write``/``memset``/``memcpy`` through it."""

    def __init__(self, mem: PageAllocator, log: KernelLog) -> None:
        self.mem = mem
        self.log = log
        self.pte: dict[int, int] = {}
        self.pmd: dict[int, int] = {}
        self.pte_runs: dict[int, int] = {}   # PMD index -> first frame of a whole-run PTE table
        self.nr_tlb_flushes = 0
        # Cumulative work (``Kernel.work()``): leaf entries set / removed, and bytes a
        # ``memset(..., 0, ...)`` cleared through this table (Access.memset, krealloc's tail).
        self.nr_ptes_mapped = 0
        self.nr_ptes_unmapped = 0
        self.nr_pmds_mapped = 0
        self.nr_pmds_unmapped = 0
        self.nr_bytes_zeroed = 0
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
        if n == 1 and page_shift != PMD_SHIFT:       # one page: the common small vmalloc
            if vpn0 in pte or (pmd and vpn0 >> _PMD_VPN_SHIFT in pmd):
                self.log.WARN_ON("vmap_pages_pte_range")
                return False
            pte[vpn0] = pfns[0]
            self.nr_ptes_mapped += 1
            return True
        span = range(vpn0, vpn0 + n)
        # probe the smaller side: a large area on a quiet table tests the few PTEs there are
        taken = (not pte.keys().isdisjoint(span) if n <= len(pte) else
                 any(map(span.__contains__, pte))) or (
            bool(pmd) and not pmd.keys().isdisjoint(
                range(vpn0 >> _PMD_VPN_SHIFT, ((vpn0 + n - 1) >> _PMD_VPN_SHIFT) + 1)))
        if taken:
            self.log.WARN_ON("vmap_pages_pte_range")
            return False
        i = 0
        if page_shift == PMD_SHIFT:
            npte, npmd = len(pte), len(pmd)
            while i < n:
                vpn, pfn = vpn0 + i, pfns[i]
                if (not vpn % _PTRS_PER_PMD and not pfn % _PTRS_PER_PMD and i + _PTRS_PER_PMD <= n
                        and pfns[i + _PTRS_PER_PMD - 1] == pfn + _PTRS_PER_PMD - 1):
                    pmd[vpn >> _PMD_VPN_SHIFT] = pfn
                    i += _PTRS_PER_PMD
                else:
                    pte[vpn] = pfn
                    i += 1
            self.nr_pmds_mapped += len(pmd) - npmd
            self.nr_ptes_mapped += len(pte) - npte
        else:
            npte = len(pte)
            pte.update(zip(range(vpn0, vpn0 + n), pfns))
            self.nr_ptes_mapped += len(pte) - npte
        if n >= _PTRS_PER_PMD:
            self._note_pte_runs(vpn0, pfns)
        return True

    def _note_pte_runs(self, vpn0: int, pfns: list[int]) -> None:
        """Record in :attr:`pte_runs` each aligned PTE table fully inside the ``pfns`` just
        mapped at ``vpn0`` whose 512 frames are consecutive. O(len(pfns)) at C speed."""
        runs, pmd = self.pte_runs, self.pmd
        n = len(pfns)
        i = -vpn0 & _PMD_VPN_MASK                  # the first page of an aligned table
        if i + _PTRS_PER_PMD > n:
            return
        first = pfns[i]
        if pfns[n - 1] - first == n - 1 - i and pfns[i:] == list(range(first, first + n - i)):
            whole = True                           # one run to the end: every table is one
        else:
            whole = False
        while i + _PTRS_PER_PMD <= n:
            idx = (vpn0 + i) >> _PMD_VPN_SHIFT
            p = pfns[i]
            if idx not in pmd and (whole or (
                    pfns[i + _PMD_VPN_MASK] == p + _PMD_VPN_MASK
                    and pfns[i:i + _PTRS_PER_PMD] == list(range(p, p + _PTRS_PER_PMD)))):
                runs[idx] = p
            i += _PTRS_PER_PMD

    def vunmap_range_noflush(self, start: int, end: int) -> None:
        """Remove every entry in ``[start, end)``; a PMD leaf goes whole."""
        pte, pmd, runs = self.pte, self.pmd, self.pte_runs
        vpn, vend = start >> PAGE_SHIFT, (end + PAGE_SIZE - 1) >> PAGE_SHIFT
        if runs:
            lo, hi = vpn >> _PMD_VPN_SHIFT, ((vend - 1) >> _PMD_VPN_SHIFT) + 1
            if hi - lo > len(runs):
                for idx in [idx for idx in runs if lo <= idx < hi]:
                    del runs[idx]
            else:
                for idx in range(lo, hi):
                    runs.pop(idx, None)
        if pmd:
            npmd = len(pmd)
            for idx in range(vpn >> _PMD_VPN_SHIFT, ((vend - 1) >> _PMD_VPN_SHIFT) + 1):
                pmd.pop(idx, None)
            self.nr_pmds_unmapped += npmd - len(pmd)
        npte = len(pte)
        if vend - vpn > len(pte):
            for k in [k for k in pte if vpn <= k < vend]:
                del pte[k]
        elif vend - vpn <= 4:                 # a page or two: no iterator machinery
            for k in range(vpn, vend):
                pte.pop(k, None)
        else:                                 # one pop per page, at C speed
            deque(map(pte.pop, range(vpn, vend), repeat(None, vend - vpn)), 0)
        self.nr_ptes_unmapped += npte - len(pte)

    def flush_tlb_kernel_range(self, start: int, end: int) -> None:
        """Count one kernel TLB flush (contents are not modelled)."""
        self.nr_tlb_flushes += 1

    def mapped_vpns(self) -> list[int]:
        """Every mapped virtual page number: each PTE, and the first and last page of each
        PMD leaf (enough to tell which areas hold mappings). O(entries)."""
        out = list(self.pte)
        for idx in self.pmd:
            out.append(idx << _PMD_VPN_SHIFT)
            out.append((idx << _PMD_VPN_SHIFT) + _PMD_VPN_MASK)
        return out

    # -- translation ------------------------------------------------------------------

    def translate_vmalloc(self, vpn: int) -> int | None:
        """The frame mapped at virtual page ``vpn`` by the page table (not the direct map)."""
        pfn = self.pte.get(vpn)
        if pfn is None and self.pmd:
            base = self.pmd.get(vpn >> _PMD_VPN_SHIFT)
            if base is not None:
                return base + (vpn & _PMD_VPN_MASK)
        return pfn

    def translate(self, vpn: int) -> int | None:
        """The frame behind virtual page ``vpn``: page table, then the direct map."""
        pfn = self.pte.get(vpn)
        if pfn is not None:
            return pfn
        if self.pmd:
            base = self.pmd.get(vpn >> _PMD_VPN_SHIFT)
            if base is not None:
                return base + (vpn & _PMD_VPN_MASK)
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
        segs = self.segments(addr, size, False)
        peek_run = self.mem.peek_run
        if len(segs) == 1:
            pfn, off, n = segs[0]
            run = peek_run(pfn, off, n)
            return bytes(n) if run is None else run.tobytes()
        out = bytearray(size)
        pos = 0
        for pfn, off, n in segs:
            run = peek_run(pfn, off, n)
            if run is not None:
                out[pos:pos + n] = run
            pos += n
        return bytes(out)

    def write(self, addr: int, data: bytes | bytearray | memoryview) -> None:
        """Store ``data`` at ``addr``; nothing is written if any page is unmapped."""
        src = memoryview(data).cast("B")
        run = self.mem.run
        pos = 0
        for pfn, off, n in self.segments(addr, len(src), True):
            run(pfn, off, n)[:] = src[pos:pos + n]
            pos += n

    def memset(self, addr: int, value: int, size: int) -> None:
        """Fill ``size`` bytes with ``value`` (0..255) in place."""
        segs = self.segments(addr, size, True)
        mem = self.mem
        if value == 0:
            for pfn, off, n in segs:
                mem.zero_run(pfn, off, n)
            self.nr_bytes_zeroed += size
            return
        fill = memoryview(bytes([value]) * PAGE_SIZE)
        for pfn, off, n in segs:
            mem.run(pfn, off, n)[:] = fill[:n]

    def _run_at(self, vpn: int, n: int) -> int | None:
        """The first frame when the ``n`` pages from ``vpn`` are mapped (PTEs or PMD leaves)
        to consecutive frames, else None (a hole, or frames that are not one run).

        A PMD leaf or a :attr:`pte_runs` table answers for its 512 pages at once; the other
        pages are looked up one by one: O(n / 512 + pages outside such tables), the
        per-page part at C speed, building no list."""
        pte, pmd, runs = self.pte, self.pmd, self.pte_runs
        get_run, get_pmd, get_pte = runs.get, pmd.get, pte.get
        eq = operator.eq
        first = -1
        v, end = vpn, vpn + n
        while v < end:
            slot_off = v & _PMD_VPN_MASK
            k = min(end - v, _PTRS_PER_PMD - slot_off)      # the pages of this table
            idx = v >> _PMD_VPN_SHIFT
            base = get_run(idx)
            if base is None and pmd:
                base = get_pmd(idx)
            if base is None:
                pt = get_pte(v)
                if pt is None or (k > 1 and not all(map(eq, map(get_pte, range(v + 1, v + k)),
                                                        range(pt + 1, pt + k)))):
                    return None
                p = pt
            else:
                p = base + slot_off
            if first < 0:
                first = p
            elif p != first + (v - vpn):
                return None
            v += k
        return first

    def check_pte_runs(self) -> None:
        """Every :attr:`pte_runs` table is PTE-mapped, entry by entry, to its run of frames
        (the index only ever under-reports). Raises :class:`KernelBug`. O(tables * 512)."""
        pte, pmd = self.pte, self.pmd
        for idx, first in self.pte_runs.items():
            vpn = idx << _PMD_VPN_SHIFT
            got = [pte.get(v) for v in range(vpn, vpn + _PTRS_PER_PMD)]
            if idx in pmd or got != list(range(first, first + _PTRS_PER_PMD)):
                raise KernelBug(f"INV-PT-3: pte_runs: the PTE table at {vpn << PAGE_SHIFT:#x} does "
                                f"not map frames {first:#x}..{first + _PMD_VPN_MASK:#x}")

    def pfns(self, addr: int, size: int, write: bool) -> list[int]:
        """Frames behind every page of ``[addr, addr + size)`` (oops if one is unmapped).

        A :attr:`pte_runs` table or a PMD leaf gives its 512 frames as one ``range``;
        other pages are one lookup each: O(pages) at C speed, O(n / 512) Python steps."""
        vpn = addr >> PAGE_SHIFT
        n = ((addr + size - 1) >> PAGE_SHIFT) - vpn + 1
        runs, pmd, get = self.pte_runs, self.pmd, self.pte.get
        got: list[int | None]
        if n < _PTRS_PER_PMD or not (runs or pmd):
            got = list(map(get, range(vpn, vpn + n)))
        else:
            got = []
            v, end = vpn, vpn + n
            while v < end:
                o = v & _PMD_VPN_MASK
                k = min(end - v, _PTRS_PER_PMD - o)
                idx = v >> _PMD_VPN_SHIFT
                base = runs.get(idx)
                if base is None:
                    base = pmd.get(idx)
                got += range(base + o, base + o + k) if base is not None else \
                    map(get, range(v, v + k))
                v += k
        if None in got:
            got = [self.translate(v) for v in range(vpn, vpn + n)]
            if None in got:
                self.segments(addr, size, write)     # raises the oops for the first hole
        return cast("list[int]", got)                # no None left: checked just above

    def memcpy(self, dst: int, src: int, size: int) -> None:
        """Copy ``size`` bytes; physically contiguous runs go in one slice copy each.

        When each side is one run of frames (the usual vmalloc area), translation is checked
        per 512-page table where :attr:`pte_runs` or a PMD leaf vouches for it and per page
        elsewhere (O(pages / 512) for large aligned areas), then one ``memoryview`` copy
        per 64 MiB contents chunk crossed: about the bandwidth of a host ``bytearray``
        copy. Otherwise both frame lists are built (O(pages) at C speed) and each run
        consecutive on both sides is one copy. An unmapped page oopses before anything is
        copied, the source's first. Each slice copy is a ``memmove``; pieces go in
        ascending order, so overlapping ranges split into pieces are undefined, as in C.
        """
        if size == 0:
            return
        off = src & (PAGE_SIZE - 1)
        if off != dst & (PAGE_SIZE - 1):
            self.segments(dst, size, True)            # fault before reading anything
            self.write(dst, self.read(src, size))
            return
        mem = self.mem
        run, peek_run, zero_run, run_frames = mem.run, mem.peek_run, mem.zero_run, mem.run_frames

        def copy(s0: int, d0: int, start: int, n: int) -> None:
            src_run = peek_run(s0, start, n)
            if src_run is None:
                zero_run(d0, start, n)          # the source was never written: zeros
            else:
                run(d0, start, n)[:] = src_run

        np_ = ((src + size - 1) >> PAGE_SHIFT) - (src >> PAGE_SHIFT) + 1
        s_run, d_run = self._run_at(src >> PAGE_SHIFT, np_), self._run_at(dst >> PAGE_SHIFT, np_)
        lists = s_run is None or d_run is None       # else both sides are one physical run
        if lists:
            spf, dpf = self.pfns(src, size, False), self.pfns(dst, size, True)
        i = pos = 0
        while i < np_:                    # one slice copy per run consecutive on both sides
            if lists:
                s0, d0 = spf[i], dpf[i]
                m = min(np_ - i, run_frames(s0), run_frames(d0))
                m = min(run_length(spf, i, m), run_length(dpf, i, m))
            else:
                s0, d0 = cast(int, s_run) + i, cast(int, d_run) + i
                m = min(np_ - i, run_frames(s0), run_frames(d0))
            start = off if i == 0 else 0
            n = min(m * PAGE_SIZE - start, size - pos)
            copy(s0, d0, start, n)
            pos += n
            i += m
