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
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Protocol, overload

from ..constants import PAGE_SHIFT, PAGE_SIZE
from .page_alloc import run_length

if TYPE_CHECKING:
    from .kasan import Kasan
    from .page_alloc import PageAllocator
    from .pgtable import PageTable


class ShadowClock(Protocol):
    """What a fast path needs of KASAN: a counter bumped by every shadow change, and a
    one-shot callback at the next change (:meth:`Kasan.on_next_change`)."""

    generation: int

    def on_next_change(self, callback: Callable[[], object]) -> None: ...


class PageCache(dict[int, memoryview]):
    """Page views by index, each built on first lookup (``dict.__missing__``), so a hot
    path pays one dict lookup per access and a buffer costs host memory only for the pages
    it touches: an untouched frame's 64 MiB contents chunk is never created."""

    __slots__ = ("_frame", "_pfns", "_fmt")

    def __init__(self, frame: Callable[[int], memoryview], pfns: list[int],
                 fmt: str | None) -> None:
        super().__init__()
        self._frame, self._pfns, self._fmt = frame, pfns, fmt

    def __missing__(self, i: int) -> memoryview:
        if not 0 <= i < len(self._pfns):
            raise IndexError(f"page {i} outside the view's {len(self._pfns)} pages")
        view = self._frame(self._pfns[i])
        if self._fmt is not None:
            view = view.cast(self._fmt)  # type: ignore[call-overload]
        self[i] = view
        return view


class PageViews(Sequence[memoryview]):
    """The pages of a :class:`DirectView` as a sequence of writable views, built lazily.

    ``cache`` is the underlying :class:`PageCache`, for hot paths.
    """

    __slots__ = ("cache",)

    def __init__(self, cache: PageCache) -> None:
        self.cache = cache

    def __len__(self) -> int:
        return len(self.cache._pfns)

    @overload
    def __getitem__(self, i: int) -> memoryview: ...
    @overload
    def __getitem__(self, i: slice) -> list[memoryview]: ...

    def __getitem__(self, i: int | slice) -> memoryview | list[memoryview]:
        if isinstance(i, slice):
            return [self.cache[j] for j in range(*i.indices(len(self)))]
        return self.cache[i + len(self) if i < 0 else i]


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
                 "_mem", "_gen", "_ok", "_caches")

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
        self._caches: dict[str | None, PageCache] = {}     # by format (None: bytes)

    @property
    def checked(self) -> bool:
        """True when KASAN is on and accesses must be checked first."""
        return self._kasan is not None

    def _cache(self, fmt: str | None) -> PageCache:
        cache = self._caches.get(fmt)
        if cache is None:
            cache = self._caches[fmt] = PageCache(self._mem.frame, self.pfns, fmt)
        return cache

    @property
    def pages(self) -> PageViews:
        """``pages[i]``: the writable 4096-byte view of page ``i``, built on first use. O(1)."""
        return PageViews(self._cache(None))

    def typed_pages(self, fmt: str) -> PageViews:
        """Like :attr:`pages`, each page cast to the ``struct`` format ``fmt``. O(1)."""
        return PageViews(self._cache(fmt))

    def run_view(self, page: int, limit: int = 1 << 62) -> tuple[int, memoryview]:
        """``(n, view)``: the longest run of ``n <= limit`` pages from page ``page`` whose
        frames are consecutive (and share a contents chunk), and one writable view of its
        ``n * 4096`` bytes. O(n + log limit) at C speed (:func:`run_length`); the containers
        walk a paged buffer a run at a time."""
        pfns = self.pfns
        if not 0 <= page < len(pfns):
            raise IndexError(f"page {page} outside the view's {len(pfns)} pages")
        first = pfns[page]
        if limit <= 1 or page + 1 == len(pfns) or pfns[page + 1] != first + 1:
            return 1, self._mem.run(first, 0, PAGE_SIZE)       # a page alone: the paged case
        end = min(len(pfns), page + self._mem.run_frames(first), page + limit)
        k = run_length(pfns, page, end - page)
        return k, self._mem.run(first, 0, k << PAGE_SHIFT)

    def _resized(self, size: int, flat: memoryview | None) -> None:
        """Become the view of ``size`` bytes at the same address (a resize in place: the
        first frames are the same; :attr:`pfns` and the page views were already trimmed or
        extended). O(1)."""
        self.size = size
        self.flat = flat
        self._gen = -1
        self._ok = size if self._kasan is None else 0

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
        if kasan is None or (kasan.generation == self._gen and off >= 0 and off + n <= self._ok):
            return
        if off < 0 or off + n > self.room():
            with self._lock:
                kasan.check_access(self.addr + off, n, write, label)


class Access:
    """Instrumented access to simulated memory: KASAN check first, then the page table.

    ``nr_bytes_copied`` counts every byte :meth:`memcpy` and :meth:`memcpy_nocheck` copied
    (``Kernel.work().bytes_copied``); a copy KASAN skipped copies nothing. Zeroing is
    counted by the page table (``PageTable.nr_bytes_zeroed``), which every memset reaches.
    """

    __slots__ = ("pgtable", "mem", "kasan", "lock", "untag", "nr_bytes_copied")

    def __init__(self, pgtable: PageTable, mem: PageAllocator, kasan: Kasan | None,
                 lock: threading.RLock) -> None:
        self.pgtable = pgtable
        self.mem = mem
        self.kasan = kasan
        self.lock = lock
        # without KASAN there are no tags: int() is the identity on an address, at C speed
        self.untag: Callable[[int], int] = kasan.untag if kasan is not None else int
        self.nr_bytes_copied = 0

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
        self.nr_bytes_copied += size
        return size

    def memcpy_nocheck(self, dst: int, src: int, size: int) -> int:
        """An uninstrumented copy (KASAN disabled around it, as in ``krealloc``); returns ``size``."""
        if size <= 0:
            return 0
        self.pgtable.memcpy(self.untag(dst), self.untag(src), size)
        self.nr_bytes_copied += size
        return size

    def direct_view(self, addr: int, size: int, reuse: DirectView | None = None) -> DirectView:
        """Frame views of ``[addr, addr + size)``. PageFault if a page is unmapped.

        O(pages); with ``reuse``, a view of the same address whose frames are still mapped
        there (the buffer was resized in place), only the pages past it are looked up and
        ``reuse`` itself is resized and returned, its page views kept:
        O(pages added or dropped).
        """
        a = self.untag(addr)
        offset = a & (PAGE_SIZE - 1)
        mem = self.mem
        if reuse is None or reuse.addr != addr or not reuse.pfns or not size:
            pfns = self.pgtable.pfns(a, size, True) if size else []
            flat = mem.contiguous_view(pfns, offset, size)
            return DirectView(addr, size, offset, pfns, flat, mem, self.kasan, self.lock)
        pfns = reuse.pfns
        had = len(pfns)
        n = (offset + size + PAGE_SIZE - 1) >> PAGE_SHIFT
        first = pfns[0]
        if n <= had:
            if reuse.flat is not None:
                flat = mem.run(first, offset, size)
            elif n == had:
                flat = None                              # the same frames: still not one run
            else:
                flat = mem.contiguous_view(pfns[:n], offset, size)
            if n < had:
                del pfns[n:]
                for cache in reuse._caches.values():
                    for i in range(n, had):
                        cache.pop(i, None)
        else:
            more = self.pgtable.pfns(a - offset + (had << PAGE_SHIFT), (n - had) << PAGE_SHIFT,
                                     True)
            flat = None                  # frames that were not one run do not become one
            if reuse.flat is not None and n <= mem.run_frames(first) and \
                    more[0] == first + had and more[-1] == first + n - 1 and \
                    more == list(range(first + had, first + n)):
                flat = mem.run(first, offset, size)
            pfns.extend(more)
        reuse._resized(size, flat)       # the same object: its page views stay valid
        return reuse
