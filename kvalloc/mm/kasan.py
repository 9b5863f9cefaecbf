"""KASAN for vmalloc memory, generic and software-tag modes (mm/kasan, docs/kasan.md).

Shadow memory is kept per 4 KiB shadow page (``shadow[shadow_addr >> 12]``), created when a
vmap area is allocated (``kasan_populate_vmalloc``) and released on purge. Generic mode keeps
one byte per 8-byte granule (0 accessible, 1..7 partially, >= 0x80 poisoned); sw_tags keeps
one memory tag per 16-byte granule and pointers carry a tag in their top byte.

Invariants (``check``): busy vmalloc areas have all their shadow pages; shadow outside busy
areas and over guard pages holds only the invalid value; when the vrealloc profile keeps it
exact (``kasan_vrealloc``, 9b47d4eea3f7 on), a live
``VM_ALLOC`` area's shadow marks exactly ``[p, p + requested_size)`` accessible.

Example:
    >>> from kvalloc import Kernel, KernelConfig
    >>> import warnings
    >>> k = Kernel(KernelConfig(kasan="generic"))
    >>> p = k.vmalloc(5001)
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")
    ...     k.write(p + 5001, b"x")
    >>> k.kasan_reports[0].bug_type
    'vmalloc-out-of-bounds'
"""

from __future__ import annotations

import dataclasses
import warnings
import weakref
from bisect import bisect_right
from collections.abc import Callable
from typing import TYPE_CHECKING

from ..constants import (
    ALIGN,
    ALIGN_DOWN,
    KASAN_SHADOW_OFFSET,
    KASAN_SHADOW_START,
    PAGE_SHIFT,
    PAGE_SIZE,
    TASK_SIZE_MAX,
    VMAP_BLOCK,
    VMAP_RAM,
    is_vmalloc_addr,
)
from ..errors import KasanError, KasanWarning, KernelBug
from ..vm_flags import KASAN_VMALLOC_KEEP_TAG, KASAN_VMALLOC_PROT_NORMAL, V

if TYPE_CHECKING:
    from collections.abc import Callable

    from ..config import KernelConfig
    from .page_alloc import PageAllocator
    from .pgtable import PageTable
    from .printk import KernelLog
    from .vmalloc_types import SortedVAs, VmapArea

KASAN_VMALLOC_INVALID = 0xF8
KASAN_TAG_INVALID = 0xFE
KASAN_TAG_KERNEL = 0xFF
_TAG_SHIFT = 56
_ADDR_MASK = (1 << _TAG_SHIFT) - 1
_BAR = "=" * 66

_GENERIC_BUG_TYPES = {
    0xFF: "use-after-free", 0xFE: "slab-out-of-bounds", 0xFC: "slab-out-of-bounds",
    0xFB: "slab-use-after-free", 0xFA: "slab-use-after-free", 0xF9: "global-out-of-bounds",
    0xF8: "vmalloc-out-of-bounds", 0xF1: "stack-out-of-bounds", 0xF2: "stack-out-of-bounds",
    0xF3: "stack-out-of-bounds", 0xF4: "stack-out-of-bounds", 0xCA: "alloca-out-of-bounds",
    0xCB: "alloca-out-of-bounds",
}


@dataclasses.dataclass(frozen=True)
class KasanReport:
    """One KASAN report: its bug type, the access, and the full text as logged."""

    bug_type: str
    access: str
    addr: int
    size: int
    text: str
    #: Whether the kernel printed it: always with ``kasan_multi_shot``, else only the first
    #: report (a suppressed one is not in dmesg, and its access went ahead).
    printed: bool = True


class Kasan:
    """Shadow memory, the vmalloc hooks, access checks and reports."""

    def __init__(self, config: KernelConfig, log: KernelLog, busy: SortedVAs,
                 pgtable: PageTable, mem: PageAllocator, exact: bool) -> None:
        self.sw_tags = config.kasan == "sw_tags"
        self.shift = 4 if self.sw_tags else 3
        self.granule = 1 << self.shift
        self.invalid = KASAN_TAG_INVALID if self.sw_tags else KASAN_VMALLOC_INVALID
        self.panic = config.kasan_fault == "panic"
        self.multi_shot = config.kasan_multi_shot
        self.exact = exact           # the vrealloc profile keeps shadow == requested_size
        self.log = log
        self.busy = busy             # the busy vmap areas, to describe a bad address
        self.pgtable = pgtable
        self.mem = mem
        # A shadow page that holds one value throughout is a shared immutable ``bytes`` (a
        # 1 GiB area costs a dict entry per shadow page, not 128 MiB); it becomes its own
        # ``bytearray`` on the first store that breaks the uniformity.
        self.shadow: dict[int, bytes | bytearray] = {}
        self._uniform: dict[int, bytes] = {}
        self.generation = 0          # bumped by every shadow change (fast-path views compare it)
        self._on_change: list[weakref.WeakMethod[Callable[[], object]]] = []
        self.reports: list[KasanReport] = []
        self._tag_state = config.seed % (1 << 32)

    # -- tags -------------------------------------------------------------------------

    def untag(self, addr: int) -> int:
        """``kasan_reset_tag``: the top byte becomes 0xff (identity in generic mode)."""
        if self.sw_tags:
            return (addr & _ADDR_MASK) | (KASAN_TAG_KERNEL << _TAG_SHIFT)
        return addr

    def random_tag(self) -> int:
        """The next tag of the seeded LCG, in ``[0, 0xFD]``."""
        self._tag_state = (1664525 * self._tag_state + 1013904223) & 0xFFFFFFFF
        return self._tag_state % 0xFE

    @staticmethod
    def set_tag(addr: int, tag: int) -> int:
        """``addr`` with pointer tag ``tag``."""
        return (addr & _ADDR_MASK) | (tag << _TAG_SHIFT)

    # -- shadow bytes -----------------------------------------------------------------

    def shadow_addr(self, addr: int) -> int:
        """``kasan_mem_to_shadow(untag(addr))``."""
        return (self.untag(addr) >> self.shift) + KASAN_SHADOW_OFFSET

    def _shadow_get(self, s: int) -> int | None:
        page = self.shadow.get(s >> PAGE_SHIFT)
        return None if page is None else page[s & (PAGE_SIZE - 1)]

    def on_next_change(self, callback: Callable[[], object]) -> None:
        """Call the bound method ``callback`` once, at the next shadow change, unless its
        object has died by then (it is held weakly). A fast path that cached what the shadow
        allowed registers here instead of comparing :attr:`generation` on every access.
        O(1); the change pays for the callbacks registered since the last one."""
        self._on_change.append(weakref.WeakMethod(callback))

    def _bump(self) -> None:
        """Record a shadow change: bump :attr:`generation`, then run and forget the
        callbacks of :meth:`on_next_change`. Every change of the shadow comes here."""
        self.generation += 1
        if not self._on_change:
            return
        pending, self._on_change = self._on_change, []
        for ref in pending:
            callback = ref()
            if callback is not None:
                callback()

    def _fill(self, start: int, size: int, value: int) -> None:
        """Fill the shadow of untagged ``[start, start + size)`` (granule aligned) with ``value``."""
        s = (start >> self.shift) + KASAN_SHADOW_OFFSET
        n = size >> self.shift
        shadow = self.shadow
        self._bump()
        while n > 0:
            idx, off = s >> PAGE_SHIFT, s & (PAGE_SIZE - 1)
            k = min(n, PAGE_SIZE - off)
            page = shadow.get(idx)
            if page is not None:
                if k == PAGE_SIZE:
                    shadow[idx] = self._uniform_page(value)
                else:
                    self._writable(idx, page)[off:off + k] = bytes([value]) * k
            s += k
            n -= k

    def _uniform_page(self, value: int) -> bytes:
        page = self._uniform.get(value)
        if page is None:
            page = self._uniform[value] = bytes([value]) * PAGE_SIZE
        return page

    def _writable(self, idx: int, page: bytes | bytearray) -> bytearray:
        """Shadow page ``idx`` as its own bytearray (copied from a shared uniform page)."""
        if isinstance(page, bytearray):
            return page
        own = self.shadow[idx] = bytearray(page)
        return own

    def shadow_bytes(self, start: int, n: int) -> bytes:
        """``n`` shadow bytes from untagged ``start``; absent shadow reads as the invalid value."""
        s = (start >> self.shift) + KASAN_SHADOW_OFFSET
        out = bytearray()
        while n > 0:
            idx, off = s >> PAGE_SHIFT, s & (PAGE_SIZE - 1)
            k = min(n, PAGE_SIZE - off)
            page = self.shadow.get(idx)
            out += page[off:off + k] if page is not None else bytes([self.invalid]) * k
            s += k
            n -= k
        return bytes(out)

    # -- poison / unpoison ------------------------------------------------------------

    def kasan_poison(self, addr: int, size: int, value: int) -> None:
        """``kasan_poison``: WARN_ON and no effect unless ``addr`` and ``size`` are granule aligned."""
        a = self.untag(addr)
        if a & (self.granule - 1) or size & (self.granule - 1):
            self.log.WARN_ON("kasan_poison")
            return
        self._fill(a, size, value)

    def kasan_unpoison(self, addr: int, size: int) -> None:
        """``kasan_unpoison``: make ``size`` bytes accessible to ``addr``'s tag."""
        a = self.untag(addr)
        if a & (self.granule - 1):
            self.log.WARN_ON("kasan_unpoison")
            return
        self._unpoison(a, size, addr >> _TAG_SHIFT if self.sw_tags else 0)

    def _unpoison(self, a: int, size: int, tag: int) -> None:
        self._fill(a, ALIGN(size, self.granule), tag)
        if not self.sw_tags and size & 7:
            self._set_granule(a + size, size & 7)

    def _set_granule(self, a: int, value: int) -> None:
        s = (a >> 3) + KASAN_SHADOW_OFFSET
        idx = s >> PAGE_SHIFT
        page = self.shadow.get(idx)
        if page is not None:
            self._writable(idx, page)[s & (PAGE_SIZE - 1)] = value
            self._bump()

    def populate_vmalloc(self, start: int, end: int) -> None:
        """``kasan_populate_vmalloc``: create missing shadow pages, filled with the invalid value."""
        if not is_vmalloc_addr(start):
            return
        first = ((start >> self.shift) + KASAN_SHADOW_OFFSET) >> PAGE_SHIFT
        last = (((end - 1) >> self.shift) + KASAN_SHADOW_OFFSET) >> PAGE_SHIFT
        shadow, fill = self.shadow, self._uniform_page(self.invalid)
        self._bump()
        for idx in range(first, last + 1):
            if idx not in shadow:
                shadow[idx] = fill

    def release_vmalloc(self, start: int, end: int) -> None:
        """Drop the shadow pages whose whole span lies inside ``[start, end)`` (purge)."""
        if not is_vmalloc_addr(start):
            return
        span = PAGE_SIZE << self.shift
        first = ALIGN(start, span)
        self._bump()
        for m in range(first, ALIGN_DOWN(end, span), span):
            self.shadow.pop(((m >> self.shift) + KASAN_SHADOW_OFFSET) >> PAGE_SHIFT, None)

    def poison_vmalloc(self, addr: int, size: int) -> None:
        """``kasan_poison_vmalloc``: poison ``ALIGN(size, granule)`` bytes with the invalid value."""
        if not is_vmalloc_addr(self.untag(addr)):
            return
        self.kasan_poison(addr, ALIGN(size, self.granule), self.invalid)

    def unpoison_vmalloc(self, addr: int, size: int, flags: int) -> int:
        """``kasan_unpoison_vmalloc``: returns the (re)tagged pointer in sw_tags mode."""
        if not is_vmalloc_addr(self.untag(addr)):
            return addr
        if self.sw_tags:
            if not flags & KASAN_VMALLOC_PROT_NORMAL:
                return self.untag(addr)
            if not flags & KASAN_VMALLOC_KEEP_TAG:
                addr = self.set_tag(addr, self.random_tag())
        self.kasan_unpoison(addr, size)
        return addr

    def kasan_vrealloc(self, addr: int, old: int, new: int) -> None:
        """``kasan_vrealloc`` (profiles 8-9): re-annotate without alignment WARNs."""
        a, g = self.untag(addr), self.granule
        if new < old:
            if not self.sw_tags and new & 7:
                self._set_granule(a + new, new & 7)
            new_r, old_r = ALIGN(new, g), ALIGN(old, g)
            if new_r < old_r:
                self._fill(a + new_r, old_r - new_r, self.invalid)
        elif new > old:
            old_d = ALIGN_DOWN(old, g)
            self._unpoison(a + old_d, new - old_d, addr >> _TAG_SHIFT if self.sw_tags else 0)

    # -- checks -----------------------------------------------------------------------

    def accessible_prefix(self, addr: int, size: int) -> int:
        """How many bytes from ``addr`` (at most ``size``) an access may touch without a report."""
        tag = addr >> _TAG_SHIFT
        a = self.untag(addr)
        if (self.sw_tags and tag == KASAN_TAG_KERNEL) or not is_vmalloc_addr(a):
            return size
        g = self.granule
        a0 = ALIGN_DOWN(a, g)
        sh = self.shadow_bytes(a0, (ALIGN(a + size, g) - a0) >> self.shift)
        good = len(sh) - len(sh.lstrip(bytes([tag if self.sw_tags else 0])))   # C-speed scan
        end = a0 + good * g
        if good < len(sh) and not self.sw_tags and sh[good] < 8:
            end += sh[good]
        return max(0, min(size, end - a))

    def check_access(self, addr: int, size: int, write: bool, label: str) -> bool:
        """``kasan_check_range``: True if the access is fine; otherwise report and return False.

        Raises :class:`PageFault` if the shadow itself is absent (purged area), and
        :class:`KasanError` after the report with ``kasan_fault="panic"``.
        """
        if size == 0:
            return True
        if addr + size > 1 << 64:
            return self.report("out-of-bounds", addr, size, write, label, addr)
        tag = addr >> _TAG_SHIFT
        if self.sw_tags and tag == KASAN_TAG_KERNEL:
            return True
        a = self.untag(addr)
        if a < KASAN_SHADOW_START:
            bug = ("null-ptr-deref" if addr < PAGE_SIZE else
                   "user-memory-access" if addr < TASK_SIZE_MAX else "wild-memory-access")
            return self.report(bug, addr, size, write, label, None)
        if not is_vmalloc_addr(a):
            return True
        shift = self.shift
        s0 = (a >> shift) + KASAN_SHADOW_OFFSET
        s1 = ((a + size - 1) >> shift) + KASAN_SHADOW_OFFSET
        shadow = self.shadow
        page = shadow.get(s0 >> PAGE_SHIFT)
        if page is not None and s0 >> PAGE_SHIFT == s1 >> PAGE_SHIFT:
            lo, hi = s0 & (PAGE_SIZE - 1), (s1 & (PAGE_SIZE - 1)) + 1
            if self.sw_tags:
                if page.count(tag, lo, hi) == hi - lo:
                    return True
            elif page.count(0, lo, hi - 1) == hi - 1 - lo:
                last = page[hi - 1]
                if last == 0 or (last < 0x80 and ((a + size - 1) & 7) < last):
                    return True
        for idx in range(s0 >> PAGE_SHIFT, (s1 >> PAGE_SHIFT) + 1):
            if idx not in shadow:
                sa = max(s0, idx << PAGE_SHIFT)
                raise self.pgtable.oops(sa, False)
        bad = self._first_bad(a, size, tag)
        if bad is None:
            return True
        if self.sw_tags:
            bug = "invalid-access"
        else:
            v = self._shadow_get((bad >> 3) + KASAN_SHADOW_OFFSET) or 0
            if 0 < v < 8:
                v = self._shadow_get((bad >> 3) + 1 + KASAN_SHADOW_OFFSET) or 0
            bug = "out-of-bounds" if v < 8 else _GENERIC_BUG_TYPES.get(v, "unknown-crash")
        return self.report(bug, addr, size, write, label, bad)

    def _first_bad(self, a: int, size: int, tag: int) -> int | None:
        """None if ``[a, a + size)`` is fine, else the first bad address (docs/kasan.md#checks).

        The kernel walks ``p = a, a + granule, ...`` while ``p`` is below the end and its
        granule is fine; granule ``k`` of that walk is shadow byte ``k`` from ``a``'s granule,
        so both the check and the walk are ``bytes.lstrip`` scans at C speed.
        """
        shift, g, end = self.shift, self.granule, a + size
        g0, g1 = a >> shift, (end - 1) >> shift
        sh = self.shadow_bytes(g0 << shift, g1 - g0 + 1)
        fine = bytes([tag if self.sw_tags else 0])
        good = len(sh) - len(sh.lstrip(fine))
        if good == len(sh):
            return None
        if not self.sw_tags and good == len(sh) - 1:
            last = sh[-1]
            if last < 0x80 and ((end - 1) & 7) < last:
                return None                        # only the partial last granule, in bounds
        walk = sh[:-(-size // g)]
        return a + (len(walk) - len(walk.lstrip(fine))) * g

    # -- reports ----------------------------------------------------------------------

    def report(self, bug: str, addr: int, size: int, write: bool, label: str,
               bad: int | None) -> bool:
        """``kasan_report``: print a report (docs/kasan.md#reports) and return False (the
        access was bad); once one was printed and ``kasan_multi_shot`` is off,
        ``report_enabled()`` is false: nothing is printed and True is returned, so the
        access goes ahead. Either way the report is kept in :attr:`reports`."""
        log = self.log
        printed = self.multi_shot or not self.reports
        access = "Write" if write else "Read"
        what = f"{access} of size {size}" if size else access
        lines = [_BAR, f"BUG: KASAN: {bug} in {label}",
                 f"{what} at addr {addr & 0xFFFFFFFFFFFFFFFF:016x} by task {log.comm}/{log.pid}"]
        if self.sw_tags and bad is not None:
            mtag = self._shadow_get((bad >> 4) + KASAN_SHADOW_OFFSET)
            lines.append(f"Pointer tag: [{addr >> _TAG_SHIFT:02x}], memory tag: "
                         f"[{self.invalid if mtag is None else mtag:02x}]")
        lines += ["", f"CPU: 0 UID: 0 PID: {log.pid} Comm: {log.comm}", "Call Trace:",
                  " <TASK>", f" {label}", " </TASK>"]
        if bad is not None:
            lines.append("")
            lines += self._describe(addr)
            lines.append("")
            lines += self._rows(bad)
        lines.append(_BAR)
        text = "\n".join(lines)
        if not printed:
            self.reports.append(KasanReport(bug, access, addr, size, text, printed=False))
            return True
        first = not self.reports
        log.lines.extend(lines)
        if first:
            log.pr("Disabling lock debugging due to kernel taint")
        self.reports.append(KasanReport(bug, access, addr, size, text))
        if self.panic:
            log.pr("Kernel panic - not syncing: kasan.fault=panic set ...")
            raise KasanError(text)
        warnings.warn(f"KASAN: {bug} in {label}: {what} at addr {addr:#x}", KasanWarning,
                      stacklevel=4)
        return False

    def _describe(self, addr: int) -> list[str]:
        a = self.untag(addr)
        out: list[str] = []
        if is_vmalloc_addr(a):
            va = self.busy.find(ALIGN(a, PAGE_SIZE))
            if va is not None and va.vm is not None:
                vm = va.vm
                out.append(f"The buggy address belongs to a {vm.nr_pages}-page vmalloc region "
                           f"starting at {vm.addr:#x} allocated at {vm.caller}")
            else:
                out.append("The buggy address belongs to a vmalloc virtual mapping")
        pfn = self.pgtable.translate(a >> PAGE_SHIFT)
        if pfn is not None:
            block = self.mem.block_of(pfn)
            ref = 0 if block is None else (block.refcount if block.pfn == pfn else 0)
            out += ["The buggy address belongs to the physical page:",
                    f"page: refcount:{ref} mapcount:0 mapping:0000000000000000 pfn:{pfn:#x}",
                    "page dumped because: kasan: bad access detected"]
        return out

    def _rows(self, bad: int) -> list[str]:
        g = self.granule
        row_bytes = 16 * g
        row = ALIGN_DOWN(bad, row_bytes) - 2 * row_bytes
        out = ["Memory state around the buggy address:"]
        for _ in range(5):
            sh = self.shadow_bytes(row, 16)
            guilty = row <= bad < row + row_bytes
            out.append(f"{'>' if guilty else ' '}{row:016x}: " + " ".join(f"{b:02x}" for b in sh))
            if guilty:
                out.append(" " * (19 + 3 * ((bad - row) // g)) + "^")
            row += row_bytes
        return out

    # -- invariants -------------------------------------------------------------------

    def check(self, leaked: list[VmapArea],
              block_ranges: Callable[[VmapArea], list[tuple[int, int, int]]]) -> None:
        """INV-KASAN-1, -2 and -4, and -3 when the vrealloc profile keeps the shadow exact.

        ``leaked`` are the areas unlinked without being freed (a ``vm_map_ram`` area passed
        to ``vfree``): they keep their shadow, like their mappings. ``block_ranges`` gives
        the live ``vm_map_ram`` ranges of a vmap block's area: ``(start, end, mapped bytes)``.
        """
        busy = sorted((va for va in list(self.busy) + leaked
                       if is_vmalloc_addr(va.va_start)), key=lambda va: va.va_start)
        span = PAGE_SIZE << self.shift
        for va in busy:
            for m in range(ALIGN_DOWN(va.va_start, span), va.va_end, span):
                if ((m >> self.shift) + KASAN_SHADOW_OFFSET) >> PAGE_SHIFT not in self.shadow:
                    raise KernelBug(f"INV-KASAN-1: busy area {va.va_start:#x} lacks shadow at {m:#x}")
        starts = [va.va_start for va in busy]
        inv = self.invalid
        for idx, page in self.shadow.items():
            m0 = ((idx << PAGE_SHIFT) - KASAN_SHADOW_OFFSET) << self.shift
            pos = m0
            i = max(0, bisect_right(starts, m0) - 1)
            while pos < m0 + span:
                cur = busy[i] if i < len(busy) else None
                if cur is not None and cur.va_end <= pos:
                    i += 1
                    continue
                gap_end = m0 + span if cur is None else min(m0 + span, max(pos, cur.va_start))
                if gap_end > pos:
                    lo = ((pos - m0) >> self.shift)
                    hi = ((gap_end - m0) >> self.shift)
                    if page.count(inv, lo, hi) != hi - lo:
                        raise KernelBug(f"INV-KASAN-2: shadow of free vmalloc space at "
                                        f"{pos:#x} is not {inv:#x}")
                if cur is None:
                    break
                pos = max(pos, cur.va_end)
                i += 1
        for va in self.busy:
            vm = va.vm
            if vm is None or not is_vmalloc_addr(va.va_start):
                if va.flags & VMAP_BLOCK:
                    pos = va.va_start
                    for start, end, size in block_ranges(va):
                        self._expect(pos, pos, 0, start, "INV-KASAN-4", None)
                        self._expect_ram(start, size, end)
                        pos = end
                    self._expect(pos, pos, 0, va.va_end, "INV-KASAN-4", None)
                elif va.flags & VMAP_RAM:
                    self._expect_ram(va.va_start, va.va_end - va.va_start, va.va_end)
                continue
            a = self.untag(vm.addr)
            end = a + vm.area_size
            self._expect(a, a, 0, va.va_end, "INV-KASAN-2", end)   # guard page only
            if not vm.flags & V.ALLOC:
                self._expect(a, vm.addr, vm.requested_size, va.va_end, "INV-KASAN-4", None)
            elif self.exact and vm.kasan_exact and not vm.flags & V.UNINITIALIZED:
                self._expect(a, vm.addr, vm.requested_size, va.va_end, "INV-KASAN-3", None)

    def _expect_ram(self, start: int, size: int, end: int) -> None:
        """A vm_map_ram range: the kernel keeps no tagged pointer for it, so the first
        granule's tag is the one the whole mapping must carry."""
        ptr = start
        if self.sw_tags:
            tag = self._shadow_get((start >> 4) + KASAN_SHADOW_OFFSET)
            if tag is None or tag == KASAN_TAG_INVALID:
                raise KernelBug(f"INV-KASAN-4: vm_map_ram area {start:#x} is not accessible")
            ptr = self.set_tag(ptr, tag)
        self._expect(start, ptr, size, end, "INV-KASAN-4", None)

    def _expect(self, a: int, ptr: int, size: int, va_end: int, name: str,
                only_from: int | None) -> None:
        g = self.granule
        n = (va_end - a) >> self.shift
        got = self.shadow_bytes(a, n)
        exp = bytearray([self.invalid]) * n
        tag = ptr >> _TAG_SHIFT if self.sw_tags else 0
        if self.sw_tags:
            exp[:ALIGN(size, g) >> 4] = bytes([tag]) * (ALIGN(size, g) >> 4)
        else:
            exp[:size >> 3] = bytes(size >> 3)
            if size & 7:
                exp[size >> 3] = size & 7
        lo = 0 if only_from is None else (only_from - a) >> self.shift
        if got[lo:] != bytes(exp[lo:]):
            i = next(j for j in range(lo, n) if got[j] != exp[j])
            raise KernelBug(f"{name}: shadow at {a + i * g:#x} is {got[i]:#x}, expected {exp[i]:#x}")
