"""Memory access through the kernel page table, KASAN-checked as compiled kernel code is.

:class:`Access` is every instrumented load, store, ``memset`` and ``memcpy`` of the simulated
kernel: ``Kernel.read``/``write``/``memset``/``memcpy``, vrealloc's copy and zeroing, the old
``kvrealloc``'s copy and the ``lib/test_vmalloc.c`` stores. Each first asks KASAN (as
``kasan_check_range()`` does before the access) and then goes through the page table; a bad
``memset``/``memcpy`` is reported and skipped, a bad load or store is reported and done.

:class:`DirectView` is the containers' zero-copy path: writable views of the frames behind a
buffer, taken through the page table once, plus the KASAN "room" (how much of the buffer may
be touched without a report) cached against the shadow's generation counter.

Example:
    >>> from kvalloc import Kernel
    >>> k = Kernel(); p = k.vmalloc(8192)
    >>> view = k.direct_view(p, 8192)
    >>> view.flat[:5] = b"hello"; k.read(p, 5), view.room()
    (b'hello', 8192)
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Protocol

from ..constants import PAGE_SIZE

if TYPE_CHECKING:
    from .kasan import Kasan
    from .page_alloc import PageAllocator
    from .pgtable import PageTable


class ShadowClock(Protocol):
    """What a fast path needs of KASAN: a counter bumped by every shadow change."""

    generation: int


class DirectView:
    """Writable views of the frames behind ``[addr, addr + size)``.

    ``pages[i]`` is the 4096-byte frame holding bytes ``[base + i*4096, base + (i+1)*4096)``
    where ``base = addr - offset`` is page aligned. ``flat`` is one view of exactly the
    ``size`` bytes when the frames are physically contiguous (they usually are: vmalloc takes
    large blocks first and slabs are compound pages), else None.

    Guarantees: the views stay valid until the memory is freed, unmapped or resized; after
    that they point at frames the caller no longer owns. With KASAN on, ``shadow`` is not
    None and every access must first call :meth:`check_access`, which reports exactly as
    ``Kernel.read`` / ``Kernel.write`` would; while ``shadow.generation`` is unchanged since
    the last check, a check inside the :meth:`room` is one comparison.
    """

    __slots__ = ("addr", "size", "offset", "pfns", "flat", "shadow", "_kasan", "_lock",
                 "_mem", "_gen", "_ok", "_pages")

    def __init__(self, addr: int, size: int, offset: int, pfns: list[int],
                 flat: memoryview | None, mem: PageAllocator, kasan: Kasan | None,
                 lock: threading.RLock) -> None:
        self.addr = addr
        self.size = size
        self.offset = offset
        self.pfns = pfns
        self.flat = flat
        self.shadow: ShadowClock | None = kasan
        self._kasan = kasan
        self._lock = lock
        self._mem = mem
        self._gen = -1
        self._ok = size if kasan is None else 0
        self._pages: list[memoryview] | None = None

    @property
    def checked(self) -> bool:
        """True when KASAN is on and accesses must be checked first."""
        return self._kasan is not None

    @property
    def pages(self) -> list[memoryview]:
        """One writable 4096-byte view per page, in order (built on first use). O(pages)."""
        if self._pages is None:
            frame = self._mem.frame
            self._pages = [frame(pfn) for pfn in self.pfns]
        return self._pages

    def room(self) -> int:
        """Bytes from ``addr`` that may be accessed without a KASAN report (``size`` with
        KASAN off). O(size / granule) at C speed after a shadow change, else O(1)."""
        kasan = self._kasan
        if kasan is not None and kasan.generation != self._gen:
            with self._lock:
                self._ok = kasan.accessible_prefix(self.addr, self.size)
                self._gen = kasan.generation
        return self._ok

    def check_access(self, off: int, n: int, write: bool, label: str) -> None:
        """KASAN-check an access of ``n`` bytes at ``addr + off`` (no-op with KASAN off)."""
        kasan = self._kasan
        if kasan is None or (kasan.generation == self._gen and 0 <= off and off + n <= self._ok):
            return
        if off < 0 or off + n > self.room():
            with self._lock:
                kasan.check_access(self.addr + off, n, write, label)


class Access:
    """Instrumented access to simulated memory: KASAN check first, then the page table."""

    __slots__ = ("pgtable", "mem", "kasan", "lock", "untag")

    def __init__(self, pgtable: PageTable, mem: PageAllocator, kasan: Kasan | None,
                 lock: threading.RLock) -> None:
        self.pgtable = pgtable
        self.mem = mem
        self.kasan = kasan
        self.lock = lock
        self.untag = kasan.untag if kasan is not None else _identity

    def read(self, addr: int, size: int, label: str) -> bytes:
        """A load: a bad access is reported, then done (it may fault)."""
        if self.kasan is not None:
            self.kasan.check_access(addr, size, False, label)
        return self.pgtable.read(self.untag(addr), size)

    def write(self, addr: int, data: bytes | bytearray | memoryview, label: str) -> None:
        """A store: a bad access is reported, then done (it may fault)."""
        if self.kasan is not None:
            self.kasan.check_access(addr, memoryview(data).nbytes, True, label)
        self.pgtable.write(self.untag(addr), data)

    def memset(self, addr: int, value: int, size: int, label: str) -> bool:
        """``memset`` as ``__asan_memset``: a report skips the whole fill. True if filled."""
        if size <= 0:
            return True
        if self.kasan is not None and not self.kasan.check_access(addr, size, True, label):
            return False
        self.pgtable.memset(self.untag(addr), value, size)
        return True

    def memcpy(self, dst: int, src: int, size: int, label: str) -> int:
        """``memcpy``: source checked before destination, a report skips the copy.

        Returns the bytes copied (``size``, or 0 when KASAN skipped it): the one place
        where resize copies are measured.
        """
        if size <= 0:
            return 0
        kasan = self.kasan
        if kasan is not None and not (kasan.check_access(src, size, False, label)
                                      and kasan.check_access(dst, size, True, label)):
            return 0
        self.pgtable.memcpy(self.untag(dst), self.untag(src), size)
        return size

    def memcpy_nocheck(self, dst: int, src: int, size: int) -> int:
        """An uninstrumented copy (KASAN disabled around it, as in ``krealloc``); returns ``size``."""
        if size <= 0:
            return 0
        self.pgtable.memcpy(self.untag(dst), self.untag(src), size)
        return size

    def direct_view(self, addr: int, size: int) -> DirectView:
        """Frame views of ``[addr, addr + size)``. O(pages); PageFault if a page is unmapped."""
        a = self.untag(addr)
        offset = a & (PAGE_SIZE - 1)
        pfns = self.pgtable.pfns(a, size, True) if size else []
        flat = self.mem.contiguous_view(pfns, offset, size)
        return DirectView(addr, size, offset, pfns, flat, self.mem, self.kasan, self.lock)


def _identity(addr: int) -> int:
    return addr
