"""Rust-for-Linux style allocators (``rust/kernel/alloc``): ``Layout``, the ``Allocator``
protocol and ``Kmalloc``, ``Vmalloc``, ``KVmalloc`` (docs/guide.md#allocators).

``realloc`` is the one primitive; ``alloc`` and ``free`` are defined through it:

- ``ptr=None`` or an old layout of size 0 allocates;
- a new layout of size 0 frees and returns ``layout.dangling()`` (an address equal to the
  alignment, never dereferenced);
- otherwise the allocation is resized and keeps its first ``min(old, new)`` bytes;
- on failure :class:`AllocError` is raised and the old allocation stays valid and unchanged.

Each allocator goes through the kernel's own resize function (``krealloc``, ``vrealloc``,
``kvrealloc``), so whether a resize stays in place is the kernel's decision and shows in
:meth:`Kernel.stats`.

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
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from .constants import NUMA_NO_NODE, PAGE_SIZE, U64_LIMIT
from .errors import AllocError, LayoutError
from .gfp import GFP

if TYPE_CHECKING:
    from .kernel import Kernel

ISIZE_MAX = 2**63 - 1
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
        for name in ("size", "align"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool):
                raise TypeError(f"Layout.{name} must be int, not {type(v).__name__}")
        if self.size < 0:
            raise LayoutError(f"Layout.size must be >= 0, got {self.size}")
        if self.align <= 0 or self.align & (self.align - 1):
            raise LayoutError(f"Layout.align must be a power of two, got {self.align}")
        if self.size + self.align - 1 > ISIZE_MAX:
            raise LayoutError(f"Layout of {self.size} bytes aligned to {self.align} overflows isize")

    @staticmethod
    def array(elem: Layout, n: int) -> Layout:
        """The layout of ``n`` consecutive ``elem`` values (each padded to its alignment)."""
        if not isinstance(n, int) or isinstance(n, bool):
            raise TypeError(f"array length must be int, not {type(n).__name__}")
        if n < 0:
            raise LayoutError(f"array length must be >= 0, got {n}")
        return Layout(elem.pad_to_align().size * n, elem.align)

    def pad_to_align(self) -> Layout:
        """This layout with its size rounded up to a multiple of its alignment."""
        return Layout((self.size + self.align - 1) & ~(self.align - 1), self.align)

    def dangling(self) -> int:
        """A well-aligned non-null address for zero-sized allocations: the alignment itself."""
        return self.align


@runtime_checkable
class Allocator(Protocol):
    """The allocator contract of ``kernel::alloc::Allocator``: one primitive, ``realloc``."""

    kernel: Kernel
    MIN_ALIGN: int

    def realloc(self, ptr: int | None, layout: Layout, old_layout: Layout,
                flags: GFP = GFP.KERNEL, nid: int = NUMA_NO_NODE) -> int:
        """Allocate, resize or free (see the module docstring); AllocError on failure."""
        ...

    def alloc(self, layout: Layout, flags: GFP = GFP.KERNEL, nid: int = NUMA_NO_NODE) -> int:
        """``realloc(None, layout, Layout(0))``."""
        ...

    def free(self, ptr: int, layout: Layout) -> None:
        """``realloc(ptr, Layout(0), layout)``."""
        ...


class _KernelAllocator:
    """Shared ``realloc`` / ``alloc`` / ``free`` over one kernel resize function."""

    MIN_ALIGN: int = ARCH_KMALLOC_MINALIGN
    kernel: Kernel

    def __init__(self, kernel: Kernel | None = None) -> None:
        from .kernel import Kernel, default_kernel
        if kernel is None:
            kernel = default_kernel()
        if not isinstance(kernel, Kernel):
            raise TypeError(f"kernel must be a Kernel, not {type(kernel).__name__}")
        self.kernel = kernel

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.kernel is self.kernel

    def __hash__(self) -> int:
        return hash((type(self), id(self.kernel)))

    def _call(self, p: int, size: int, align: int, flags: int, nid: int) -> int | None:
        raise NotImplementedError

    def realloc_counted(self, ptr: int | None, layout: Layout, old_layout: Layout,
                        flags: GFP = GFP.KERNEL, nid: int = NUMA_NO_NODE) -> tuple[int, int]:
        """:meth:`realloc`, also returning how many bytes the kernel copied for it."""
        if not isinstance(layout, Layout) or not isinstance(old_layout, Layout):
            raise TypeError("layout and old_layout must be Layout instances")
        if ptr is not None and (not isinstance(ptr, int) or isinstance(ptr, bool)):
            raise TypeError(f"ptr must be int or None, not {type(ptr).__name__}")
        size = layout.pad_to_align().size
        if size >= U64_LIMIT:
            raise AllocError(f"{type(self).__name__}: {size} bytes cannot be allocated")
        p = 0 if ptr is None or old_layout.size == 0 else ptr
        k = self.kernel
        with k._lock:
            before = k.realloc_copied
            raw = self._call(p, size, layout.align, int(flags), nid)
            copied = k.realloc_copied - before
        if size == 0:
            return layout.dangling(), copied
        if not raw:
            raise AllocError(f"{type(self).__name__}: cannot allocate {size} bytes "
                             f"(align {layout.align}, flags {int(flags):#x})")
        return raw, copied

    def realloc(self, ptr: int | None, layout: Layout, old_layout: Layout,
                flags: GFP = GFP.KERNEL, nid: int = NUMA_NO_NODE) -> int:
        """Allocate, resize or free; AllocError leaves ``ptr`` valid. O(size) on a move."""
        return self.realloc_counted(ptr, layout, old_layout, flags, nid)[0]

    def alloc(self, layout: Layout, flags: GFP = GFP.KERNEL, nid: int = NUMA_NO_NODE) -> int:
        """Allocate ``layout`` (``realloc`` from nothing)."""
        return self.realloc(None, layout, Layout(0), flags, nid)

    def free(self, ptr: int, layout: Layout) -> None:
        """Free ``ptr`` allocated with ``layout`` (``realloc`` to size 0)."""
        self.realloc(ptr, Layout(0), layout, GFP(0), NUMA_NO_NODE)


class Kmalloc(_KernelAllocator):
    """Physically contiguous memory through ``krealloc``; at most ``KMALLOC_MAX_SIZE``."""

    MIN_ALIGN = ARCH_KMALLOC_MINALIGN

    def _call(self, p: int, size: int, align: int, flags: int, nid: int) -> int | None:
        return self.kernel.krealloc(p, size, flags, align=align, node=nid)


class Vmalloc(_KernelAllocator):
    """Virtually contiguous memory through ``vrealloc``.

    Before vrealloc took an alignment (profiles older than 4c5d3365882d) alignments above
    ``PAGE_SIZE`` are refused, as Rust-for-Linux did then.
    """

    MIN_ALIGN = PAGE_SIZE

    def _call(self, p: int, size: int, align: int, flags: int, nid: int) -> int | None:
        k = self.kernel
        if size and align > PAGE_SIZE and k.config.vrealloc_profile < 6:
            k.log.pr("Vmalloc does not support alignments larger than PAGE_SIZE yet.")
            return None
        return k.vrealloc(p, size, flags, align=align, node=nid)


class KVmalloc(_KernelAllocator):
    """kmalloc first, vmalloc as the fallback, through ``kvrealloc``.

    Before kvrealloc took an alignment (profiles older than 4c5d3365882d) alignments above
    ``PAGE_SIZE`` are refused whatever the size, as Rust-for-Linux did then.
    """

    MIN_ALIGN = ARCH_KMALLOC_MINALIGN

    def _call(self, p: int, size: int, align: int, flags: int, nid: int) -> int | None:
        k = self.kernel
        if size and align > PAGE_SIZE and k.config.vrealloc_profile < 6:
            k.log.pr("KVmalloc does not support alignments larger than PAGE_SIZE yet.")
            return None
        return k.kvrealloc(p, size, flags, align=align, node=nid)


class MoveOnly:
    """Test double: an allocator that never resizes in place (allocate, copy, free).

    It wraps another allocator for the memory itself; the baseline of growth studies.

    >>> from kvalloc import Kernel
    >>> k = Kernel(); a = MoveOnly(Vmalloc(k))
    >>> p = a.alloc(Layout(100)); a.realloc(p, Layout(200), Layout(100)) != p
    True
    """

    def __init__(self, inner: Allocator) -> None:
        self.inner = inner
        self.kernel = inner.kernel
        self.MIN_ALIGN = inner.MIN_ALIGN

    def __repr__(self) -> str:
        return f"MoveOnly({self.inner!r})"

    def realloc_counted(self, ptr: int | None, layout: Layout, old_layout: Layout,
                        flags: GFP = GFP.KERNEL, nid: int = NUMA_NO_NODE) -> tuple[int, int]:
        """Allocate new, copy ``min(old, new)`` bytes, free old; returns (ptr, bytes copied)."""
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

    def alloc(self, layout: Layout, flags: GFP = GFP.KERNEL, nid: int = NUMA_NO_NODE) -> int:
        """Allocate through the wrapped allocator."""
        return self.inner.alloc(layout, flags, nid)

    def free(self, ptr: int, layout: Layout) -> None:
        """Free through the wrapped allocator."""
        self.inner.free(ptr, layout)
