"""Rust-for-Linux style allocators (``rust/kernel/alloc``): ``Layout``, the ``Allocator``
protocol and ``Kmalloc``, ``Vmalloc``, ``KVmalloc`` (docs/guide.md#allocators).

``realloc`` is the one primitive; ``alloc`` and ``free`` are defined through it:

- ``ptr=None`` or an old layout of size 0 allocates;
- a new layout of size 0 frees and returns ``layout.dangling()`` (an address equal to the
  alignment, never dereferenced);
- otherwise the allocation is resized and keeps its first ``min(old, new)`` bytes;
- on failure :class:`AllocError` is raised and the old allocation stays valid and unchanged.

Each allocator goes through the kernel's own resize function (``krealloc``, ``vrealloc``,
``kvrealloc``), named by a :class:`ReallocFunc` as in ``rust/kernel/alloc/allocator.rs``, so
whether a resize stays in place is the kernel's decision and shows in :meth:`Kernel.stats`.
A user-written allocator subclasses :class:`Allocator` and writes only ``realloc``.

Example:
    >>> from kvalloc import Kernel, Layout, Vmalloc
    >>> k = Kernel(); a = Vmalloc(k)
    >>> p = a.alloc(Layout(100))
    >>> a.realloc(p, Layout(4000), Layout(100)) == p      # in place: the page was there
    True
    >>> a.free(p, Layout(4000)); k.stats().vrealloc_grow_in_place
    1
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, ClassVar, NamedTuple, Protocol, runtime_checkable

from ._validate import require_int
from .constants import NUMA_NO_NODE, PAGE_SIZE, U64_LIMIT, is_power_of_2
from .errors import AllocError, LayoutError
from .gfp import GFP, G
from .kernel import Kernel, default_kernel
from .mm.machine import ReallocKind

ISIZE_MAX = 2**63 - 1
_new = object.__new__
_GFP_KERNEL = GFP.KERNEL
#: ``ARCH_KMALLOC_MINALIGN`` on x86_64.
ARCH_KMALLOC_MINALIGN = 8


@dataclasses.dataclass(frozen=True)
class Layout:
    """Size and alignment of an allocation (``core::alloc::Layout``).

    Invariants: ``size >= 0``; ``align`` is a power of two; ``size`` rounded up to ``align``
    does not exceed ``isize::MAX``.

    >>> Layout.array(Layout(12, 4), 3), Layout(5, 8).pad_to_align().size, Layout(1, 64).dangling()
    (Layout(size=36, align=4), 8, 64)
    """

    size: int
    align: int = 1

    def __post_init__(self) -> None:
        require_int("Layout.size", self.size)
        require_int("Layout.align", self.align)
        if self.size < 0:
            raise LayoutError(f"Layout.size must be >= 0, got {self.size}")
        if not is_power_of_2(self.align):
            raise LayoutError(f"Layout.align must be a power of two, got {self.align}")
        if self.size + self.align - 1 > ISIZE_MAX:
            raise LayoutError(f"Layout of {self.size} bytes aligned to {self.align} overflows isize")

    @staticmethod
    def array(elem: Layout, n: int) -> Layout:
        """The layout of ``n`` consecutive ``elem`` values (each padded to its alignment)."""
        if type(n) is not int:
            n = require_int("array length", n)
        if n < 0:
            raise LayoutError(f"array length must be >= 0, got {n}")
        align = elem.align
        size = ((elem.size + align - 1) & ~(align - 1)) * n
        if size + align - 1 > ISIZE_MAX:
            raise LayoutError(f"Layout of {size} bytes aligned to {align} overflows isize")
        lay = _new(Layout)                    # valid by construction: skip __post_init__
        d = lay.__dict__                      # frozen: set the fields below the dataclass
        d["size"] = size
        d["align"] = align
        return lay

    def pad_to_align(self) -> Layout:
        """This layout with its size rounded up to a multiple of its alignment (itself if it
        already is one)."""
        size, align = self.size, self.align
        if not size & (align - 1):
            return self
        return Layout((size + align - 1) & ~(align - 1), align)

    def dangling(self) -> int:
        """A well-aligned non-null address for zero-sized allocations: the alignment itself."""
        return self.align


class ReallocEvent(NamedTuple):
    """One call of an allocator's resize entry, as the allocator layer saw it (immutable).

    ``outcome`` is ``"fresh"`` (there was no old allocation), ``"in_place"`` (the pointer
    stayed), ``"moved"`` (a new pointer), ``"failed"`` (AllocError: the old allocation is
    unchanged, so ``new_ptr == old_ptr``) or ``"freed"`` (a new size of 0). ``*_bytes`` are
    the layout sizes asked for; ``*_allocated`` what the kernel really holds (``ksize`` of a
    kmalloc object, or the mapped pages of a vmalloc area times ``PAGE_SIZE``; 0 for none).
    ``backing`` is where the new allocation lives (the old one for failed and freed):
    ``"kmalloc"``, ``"vmalloc"`` or ``"vmalloc_huge"``. ``bytes_copied`` is what the kernel
    (or :class:`MoveOnly`) copied for this call.

    >>> from kvalloc import Kernel
    >>> a = Vmalloc(Kernel()); seen = []; a.observer = seen.append
    >>> p = a.alloc(Layout(5000)); q = a.realloc(p, Layout(6000), Layout(5000))
    >>> [(e.outcome, e.new_allocated, e.backing) for e in seen]
    [('fresh', 8192, 'vmalloc'), ('in_place', 8192, 'vmalloc')]
    """

    old_ptr: int
    new_ptr: int
    old_bytes: int
    new_bytes: int
    old_allocated: int
    new_allocated: int
    outcome: str
    bytes_copied: int
    backing: str


#: What an allocator's ``observer`` is called with: one :class:`ReallocEvent` per resize.
Observer = Callable[[ReallocEvent], None]


def _observed(alloc: _KernelAllocator | MoveOnly, ptr: int | None, layout: Layout,
              old_layout: Layout, flags: GFP, nid: int) -> tuple[int, int]:
    """``alloc._realloc_counted`` with one :class:`ReallocEvent` to ``alloc.observer``."""
    observer = alloc.observer
    assert observer is not None
    if (type(layout) is not Layout or type(old_layout) is not Layout) and \
            (not isinstance(layout, Layout) or not isinstance(old_layout, Layout)):
        raise TypeError("layout and old_layout must be Layout instances")
    m = alloc.kernel.machine
    had = ptr is not None and old_layout.size > 0
    old_ptr = ptr if ptr is not None and had else 0
    last = alloc._last_held
    if old_ptr and last[0] == old_ptr:
        old_held, old_backing = last[1], last[2]      # what this allocator's last call gave
    else:
        with m.lock:
            old_held, old_backing = m.allocation(old_ptr)
    old_bytes = old_layout.size if had else 0
    size = layout.size
    try:
        with m.lock:                    # one hold for the call and the look at its result
            new, copied = alloc._realloc_counted(ptr, layout, old_layout, flags, nid)
            if new == old_ptr and old_backing == "kmalloc":
                held, backing = old_held, old_backing    # a slab object in place: same ksize
            else:
                held, backing = m.allocation(new) if size else (0, "")
    except AllocError:
        observer(_event((old_ptr, old_ptr, old_bytes, size, old_held, old_held, "failed", 0,
                         old_backing)))
        raise
    if size == 0:
        alloc._last_held = (0, 0, "")
        if had:
            observer(_event((old_ptr, 0, old_bytes, 0, old_held, 0, "freed", copied,
                             old_backing)))
        return new, copied
    alloc._last_held = (new, held, backing)
    outcome = "fresh" if not had else "in_place" if new == old_ptr else "moved"
    observer(_tuple_new(ReallocEvent, (old_ptr, new, old_bytes, size, old_held, held, outcome,
                                       copied, backing)))         # _event, inline
    return new, copied


def _event(fields: tuple[int, int, int, int, int, int, str, int, str]) -> ReallocEvent:
    """A :class:`ReallocEvent` from its fields in order, without the keyword-parsing
    ``__new__`` (the studies make one per resize)."""
    event: ReallocEvent = _tuple_new(ReallocEvent, fields)
    return event


_tuple_new: Any = tuple.__new__


@runtime_checkable
class Allocator(Protocol):
    """The allocator contract of ``kernel::alloc::Allocator``: one primitive, ``realloc``.

    Subclass it and write :meth:`realloc`; :meth:`alloc`, :meth:`free` and
    :meth:`realloc_counted` are defined through it, as the Rust trait defines them.
    """

    kernel: Kernel
    MIN_ALIGN: int

    def realloc(self, ptr: int | None, layout: Layout, old_layout: Layout,
                flags: GFP = GFP.KERNEL, nid: int = NUMA_NO_NODE) -> int:
        """Allocate, resize or free (see the module docstring); AllocError on failure."""
        ...

    def realloc_counted(self, ptr: int | None, layout: Layout, old_layout: Layout,
                        flags: GFP = GFP.KERNEL, nid: int = NUMA_NO_NODE) -> tuple[int, int]:
        """:meth:`realloc`, also returning how many bytes were copied for it.

        The default assumes a changed pointer means ``min(old, new)`` bytes were copied.
        """
        new = self.realloc(ptr, layout, old_layout, flags, nid)
        if ptr is None or new == ptr:
            return new, 0
        return new, min(old_layout.size, layout.size)

    def alloc(self, layout: Layout, flags: GFP = GFP.KERNEL, nid: int = NUMA_NO_NODE) -> int:
        """Allocate ``layout``: ``realloc(None, layout, Layout(0))``."""
        return self.realloc(None, layout, Layout(0), flags, nid)

    def free(self, ptr: int, layout: Layout) -> None:
        """Free ``ptr`` allocated with ``layout``: ``realloc(ptr, Layout(0), layout)``."""
        self.realloc(ptr, Layout(0), layout, GFP(0), NUMA_NO_NODE)


class ReallocFunc:
    """One of the kernel's resize functions (``allocator.rs``: ``ReallocFunc``).

    :meth:`call` is the allocator layer's single way into the kernel: it validates once,
    takes the machine lock and calls the machine's resize entry, which returns the new
    pointer and the bytes the kernel copied.
    """

    __slots__ = ("kind",)

    KREALLOC: ClassVar[ReallocFunc]
    VREALLOC: ClassVar[ReallocFunc]
    KVREALLOC: ClassVar[ReallocFunc]

    def __init__(self, kind: ReallocKind) -> None:
        self.kind: ReallocKind = kind

    def __repr__(self) -> str:
        return f"ReallocFunc.{self.kind.upper()}"

    def call(self, kernel: Kernel, ptr: int | None, layout: Layout, old_layout: Layout,
             flags: int, nid: int) -> tuple[int | None, int]:
        """Resize through the kernel: ``(new pointer or None on failure, bytes copied)``.

        ``ptr=None`` or an empty old layout allocates; an empty layout frees.
        """
        if (type(layout) is not Layout or type(old_layout) is not Layout) and \
                (not isinstance(layout, Layout) or not isinstance(old_layout, Layout)):
            raise TypeError("layout and old_layout must be Layout instances")
        if ptr is not None and (type(ptr) is not int or not 0 <= ptr < U64_LIMIT):
            ptr = require_int("ptr", ptr, 0, U64_LIMIT)
        if flags is _GFP_KERNEL:
            flags = G.KERNEL                # the usual flags, without the IntFlag conversion
        elif type(flags) is not int or not 0 <= flags < 1 << 32:
            flags = require_int("flags", flags, 0, 1 << 32)
        if type(nid) is not int or (nid != NUMA_NO_NODE and nid != 0):
            nid = require_int("nid", nid)
            if nid not in (NUMA_NO_NODE, 0):
                raise ValueError(f"nid must be NUMA_NO_NODE (-1) or 0 on this one-node machine, "
                                 f"got {nid}")
        size = layout.size                   # as asked: Kmalloc and KVmalloc padded it first
        if size >= U64_LIMIT:
            return None, 0
        p = 0 if ptr is None or old_layout.size == 0 else ptr
        m = kernel.machine
        with m.lock:
            return m.realloc(self.kind, p, size, flags, layout.align, nid, self.kind)


ReallocFunc.KREALLOC = ReallocFunc("krealloc")
ReallocFunc.VREALLOC = ReallocFunc("vrealloc")
ReallocFunc.KVREALLOC = ReallocFunc("kvrealloc")


class _KernelAllocator(Allocator):
    """``realloc`` over one kernel resize function (:attr:`FUNC`)."""

    MIN_ALIGN: int = ARCH_KMALLOC_MINALIGN
    FUNC: ClassVar[ReallocFunc]
    #: Pad the size to the alignment first (``Kmalloc::aligned_layout``), which the slab
    #: needs to return an aligned object; vrealloc aligns by itself and gets the size asked.
    PAD: ClassVar[bool] = True
    #: Called with a :class:`ReallocEvent` after every resize when set (the studies' probe).
    observer: Observer | None = None
    #: (pointer, bytes held, backing) after the last observed call: the next call's "old".
    _last_held: tuple[int, int, str] = (0, 0, "")

    def __init__(self, kernel: Kernel | None = None) -> None:
        if kernel is None:
            kernel = default_kernel()
        if not isinstance(kernel, Kernel):
            raise TypeError(f"kernel must be a Kernel, not {type(kernel).__name__}")
        self.kernel = kernel

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle as the allocator's kind only: it unpickles bound to the default kernel of
        the process that loads it (a kernel's memory never travels)."""
        return type(self), ()

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, _KernelAllocator) and type(other) is type(self)
                and other.kernel is self.kernel)

    def __hash__(self) -> int:
        return hash((type(self), id(self.kernel)))

    def _refuse(self, layout: Layout) -> bool:
        """True (after the kernel's message) if this allocator cannot serve ``layout``, whose
        alignment is above ``PAGE_SIZE`` (the only layouts any allocator refuses)."""
        return False

    def realloc_counted(self, ptr: int | None, layout: Layout, old_layout: Layout,
                        flags: GFP = GFP.KERNEL, nid: int = NUMA_NO_NODE) -> tuple[int, int]:
        """:meth:`realloc`, also returning how many bytes the kernel copied for it."""
        if self.observer is not None:
            return _observed(self, ptr, layout, old_layout, flags, nid)
        return self._realloc_counted(ptr, layout, old_layout, flags, nid)

    def _realloc_counted(self, ptr: int | None, layout: Layout, old_layout: Layout,
                         flags: GFP, nid: int) -> tuple[int, int]:
        if type(layout) is not Layout and not isinstance(layout, Layout):
            raise TypeError("layout and old_layout must be Layout instances")
        size, align = layout.size, layout.align
        asked = layout
        if size & (align - 1):                       # pad_to_align, inline: the hot path
            size = (size + align - 1) & ~(align - 1)
            if self.PAD:
                asked = Layout(size, align)
        if size >= U64_LIMIT:
            raise AllocError(f"{type(self).__name__}: {size} bytes cannot be allocated")
        if size and align > PAGE_SIZE and self._refuse(layout):
            raw: int | None = None
            copied = 0
        else:
            raw, copied = self.FUNC.call(self.kernel, ptr, asked, old_layout, flags, nid)
        if layout.size == 0:
            return align, copied                     # layout.dangling()
        if not raw:
            raise AllocError(f"{type(self).__name__}: cannot allocate {size} bytes "
                             f"(align {align}, flags {int(flags):#x})")
        return raw, copied

    def realloc(self, ptr: int | None, layout: Layout, old_layout: Layout,
                flags: GFP = GFP.KERNEL, nid: int = NUMA_NO_NODE) -> int:
        """Allocate, resize or free; AllocError leaves ``ptr`` valid. O(size) on a move."""
        return self.realloc_counted(ptr, layout, old_layout, flags, nid)[0]


class Kmalloc(_KernelAllocator):
    """Physically contiguous memory through ``krealloc``; at most ``KMALLOC_MAX_SIZE``."""

    MIN_ALIGN = ARCH_KMALLOC_MINALIGN
    FUNC = ReallocFunc.KREALLOC


class _PageAlignedBefore6(_KernelAllocator):
    def _refuse(self, layout: Layout) -> bool:
        m = self.kernel.machine
        if not m.profile.align_and_node:
            with m.lock:
                m.log.pr(f"{type(self).__name__} does not support alignments larger than "
                         "PAGE_SIZE yet.")
            return True
        return False


class Vmalloc(_PageAlignedBefore6):
    """Virtually contiguous memory through ``vrealloc``, with the size asked for: only
    ``Kmalloc`` and ``KVmalloc`` pad it to the alignment (``Kmalloc::aligned_layout``).

    Before vrealloc took an alignment (profiles older than 4c5d3365882d) alignments above
    ``PAGE_SIZE`` are refused, as Rust-for-Linux did then.
    """

    MIN_ALIGN = PAGE_SIZE
    FUNC = ReallocFunc.VREALLOC
    PAD = False                 # allocator.rs: Vmalloc passes layout.size() unpadded


class KVmalloc(_PageAlignedBefore6):
    """kmalloc first, vmalloc as the fallback, through ``kvrealloc``.

    Before kvrealloc took an alignment (profiles older than 4c5d3365882d) alignments above
    ``PAGE_SIZE`` are refused whatever the size, as Rust-for-Linux did then.
    """

    MIN_ALIGN = ARCH_KMALLOC_MINALIGN
    FUNC = ReallocFunc.KVREALLOC


class MoveOnly(Allocator):
    """Test double: an allocator that never resizes in place (allocate, copy, free).

    It wraps another allocator for the memory itself; the baseline of growth studies.

    >>> from kvalloc import Kernel
    >>> k = Kernel(); a = MoveOnly(Vmalloc(k))
    >>> p = a.alloc(Layout(100)); a.realloc(p, Layout(200), Layout(100)) != p
    True
    """

    observer: Observer | None = None
    _last_held: tuple[int, int, str] = (0, 0, "")

    def __init__(self, inner: Allocator) -> None:
        self.inner = inner
        self.kernel = inner.kernel
        self.MIN_ALIGN = inner.MIN_ALIGN

    def __repr__(self) -> str:
        return f"MoveOnly({self.inner!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        return MoveOnly, (self.inner,)

    def realloc_counted(self, ptr: int | None, layout: Layout, old_layout: Layout,
                        flags: GFP = GFP.KERNEL, nid: int = NUMA_NO_NODE) -> tuple[int, int]:
        """Allocate new, copy ``min(old, new)`` bytes, free old; returns (ptr, bytes copied)."""
        if self.observer is not None:
            return _observed(self, ptr, layout, old_layout, flags, nid)
        return self._realloc_counted(ptr, layout, old_layout, flags, nid)

    def _realloc_counted(self, ptr: int | None, layout: Layout, old_layout: Layout,
                         flags: GFP, nid: int) -> tuple[int, int]:
        if ptr is None or old_layout.size == 0:
            return self.inner.alloc(layout, flags, nid), 0
        if layout.size == 0:
            self.inner.free(ptr, old_layout)
            return layout.dangling(), 0
        new = self.inner.alloc(layout, flags, nid)
        n = min(old_layout.size, layout.size)
        self.kernel.memcpy(new, ptr, n)
        self.inner.free(ptr, old_layout)
        return new, n

    def realloc(self, ptr: int | None, layout: Layout, old_layout: Layout,
                flags: GFP = GFP.KERNEL, nid: int = NUMA_NO_NODE) -> int:
        """See :meth:`realloc_counted`."""
        return self.realloc_counted(ptr, layout, old_layout, flags, nid)[0]
