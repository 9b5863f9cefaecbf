"""``Box[T, A]`` and its aliases ``KBox``, ``VBox``, ``KVBox`` (rust/kernel/alloc/kbox.rs).

A box owns one ``Elem[T]`` value in simulated kernel memory.

Example:
    >>> from containers import KBox, KVBox, Struct, f64
    >>> from kvalloc import Kernel, AllocError
    >>> k = Kernel()
    >>> b = KBox.new(f64, 1.5, kernel=k)
    >>> b.value, k.ksize(b.ptr)
    (1.5, 8)
    >>> big = Struct("5242880s")                       # 5 MiB: more than KMALLOC_MAX_SIZE
    >>> import warnings; warnings.simplefilter("ignore")
    >>> try:
    ...     KBox.new(big, (b"x",), kernel=k)
    ... except AllocError:
    ...     print("KBox refuses")
    KBox refuses
    >>> k.is_vmalloc_addr(KVBox.new(big, (b"x",), kernel=k).ptr)
    True
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kvalloc.alloc import Kmalloc, KVmalloc, Layout, Vmalloc
from kvalloc.gfp import GFP

from ._owner import Owner
from ._typing import A, B, T, U
from .elem import Elem

if TYPE_CHECKING:
    from kvalloc.kernel import Kernel


_KERNEL = GFP.KERNEL


class Box(Owner[T, A]):
    """One owned value in simulated kernel memory.

    Invariants: while alive, ``ptr`` holds an initialised value of ``elem`` allocated by
    ``alloc`` with :attr:`layout`; after ``drop``/``into_raw``/``into_inner`` it is unusable.
    """

    __slots__ = ("_elem", "_alloc", "_ptr", "_state", "__weakref__")
    _alias = "Box"

    def __init__(self, elem: Elem[T], ptr: int, alloc: A) -> None:
        """Internal: use :meth:`new`, :meth:`new_zeroed` or ``from_raw``."""
        self._elem = elem
        self._alloc = alloc
        self._ptr = ptr
        self._state = 0

    @staticmethod
    def _layout_of(elem: Elem[U]) -> Layout:
        if not isinstance(elem, Elem):
            raise TypeError(f"elem must be an element type such as u32, not {type(elem).__name__}")
        if elem.size == 0:
            raise ValueError("zero-sized element types are not supported")
        return Layout(elem.size, elem.align)

    @classmethod
    def new(cls, elem: Elem[U], value: U, *, alloc: B, flags: GFP = _KERNEL) -> Box[U, B]:
        """Allocate and store ``value``; AllocError if the allocation fails."""
        layout = cls._layout_of(elem)
        data = elem.pack(value)                     # validate before allocating
        ptr = alloc.alloc(layout, flags)
        alloc.kernel.write(ptr, data)
        elem.incref(value)
        return Box(elem, ptr, alloc)

    @classmethod
    def new_zeroed(cls, elem: Elem[U], *, alloc: B, flags: GFP = _KERNEL) -> Box[U, B]:
        """Allocate with ``__GFP_ZERO``: the value is all-zero bytes (0, 0.0, False, None)."""
        ptr = alloc.alloc(cls._layout_of(elem), GFP(flags | GFP.ZERO))
        return Box(elem, ptr, alloc)

    @property
    def value(self) -> T:
        """The boxed value (read through the page table, KASAN-checked)."""
        self._alive()
        return self._elem.unpack(self._alloc.kernel.read(self._ptr, self._elem.size))

    @value.setter
    def value(self, value: T) -> None:
        self._alive()
        elem = self._elem
        data = elem.pack(value)
        k = self._alloc.kernel
        old = k.read(self._ptr, elem.size) if elem.holds_refs else b""
        k.write(self._ptr, data)
        elem.incref(value)
        if elem.holds_refs:
            elem.decref_raw(old)

    @property
    def ptr(self) -> int:
        """The value's address."""
        return self._ptr

    @property
    def layout(self) -> Layout:
        """The allocation's layout."""
        return Layout(self._elem.size, self._elem.align)

    def into_raw(self) -> int:
        """Give the allocation away (the value stays alive); the box becomes unusable."""
        self._alive()
        self._state = 2
        return self._ptr

    def into_inner(self) -> T:
        """Return the value and free the allocation."""
        value = self.value
        self.drop()
        return value

    def drop(self) -> None:
        """Free the allocation now (a no-op when already dropped or given away)."""
        if self._state:
            return
        elem = self._elem
        if elem.holds_refs:
            elem.decref_raw(self._alloc.kernel.read(self._ptr, elem.size))
        self._alloc.free(self._ptr, self.layout)
        self._state = 1

    def __repr__(self) -> str:
        return self._repr(self._elem.name, None if self._state else self.value)


class KBox(Box[T, Kmalloc]):
    """``KBox<T>``: a box in kmalloc memory (at most ``KMALLOC_MAX_SIZE``)."""

    __slots__ = ()
    _alias = "KBox"

    @classmethod
    def new(cls, elem: Elem[U], value: U, *, kernel: Kernel | None = None,  # type: ignore[override]
            flags: GFP = _KERNEL) -> KBox[U]:
        """Allocate with kmalloc and store ``value``."""
        b = Box.new(elem, value, alloc=Kmalloc(kernel), flags=flags)
        return KBox(elem, b.into_raw(), b.alloc)

    @classmethod
    def new_zeroed(cls, elem: Elem[U], *, kernel: Kernel | None = None,  # type: ignore[override]
                   flags: GFP = _KERNEL) -> KBox[U]:
        """A zeroed ``KBox``."""
        b = Box.new_zeroed(elem, alloc=Kmalloc(kernel), flags=flags)
        return KBox(elem, b.into_raw(), b.alloc)

    @classmethod
    def from_raw(cls, elem: Elem[U], ptr: int, *, kernel: Kernel | None = None) -> KBox[U]:
        """Take ownership of a pointer from :meth:`into_raw`."""
        return KBox(elem, ptr, Kmalloc(kernel))


class VBox(Box[T, Vmalloc]):
    """``VBox<T>``: a box in vmalloc memory."""

    __slots__ = ()
    _alias = "VBox"

    @classmethod
    def new(cls, elem: Elem[U], value: U, *, kernel: Kernel | None = None,  # type: ignore[override]
            flags: GFP = _KERNEL) -> VBox[U]:
        """Allocate with vmalloc and store ``value``."""
        b = Box.new(elem, value, alloc=Vmalloc(kernel), flags=flags)
        return VBox(elem, b.into_raw(), b.alloc)

    @classmethod
    def new_zeroed(cls, elem: Elem[U], *, kernel: Kernel | None = None,  # type: ignore[override]
                   flags: GFP = _KERNEL) -> VBox[U]:
        """A zeroed ``VBox``."""
        b = Box.new_zeroed(elem, alloc=Vmalloc(kernel), flags=flags)
        return VBox(elem, b.into_raw(), b.alloc)

    @classmethod
    def from_raw(cls, elem: Elem[U], ptr: int, *, kernel: Kernel | None = None) -> VBox[U]:
        """Take ownership of a pointer from :meth:`into_raw`."""
        return VBox(elem, ptr, Vmalloc(kernel))


class KVBox(Box[T, KVmalloc]):
    """``KVBox<T>``: a box in kmalloc memory, or vmalloc memory when it is large."""

    __slots__ = ()
    _alias = "KVBox"

    @classmethod
    def new(cls, elem: Elem[U], value: U, *, kernel: Kernel | None = None,  # type: ignore[override]
            flags: GFP = _KERNEL) -> KVBox[U]:
        """Allocate with kvmalloc and store ``value``."""
        b = Box.new(elem, value, alloc=KVmalloc(kernel), flags=flags)
        return KVBox(elem, b.into_raw(), b.alloc)

    @classmethod
    def new_zeroed(cls, elem: Elem[U], *, kernel: Kernel | None = None,  # type: ignore[override]
                   flags: GFP = _KERNEL) -> KVBox[U]:
        """A zeroed ``KVBox``."""
        b = Box.new_zeroed(elem, alloc=KVmalloc(kernel), flags=flags)
        return KVBox(elem, b.into_raw(), b.alloc)

    @classmethod
    def from_raw(cls, elem: Elem[U], ptr: int, *, kernel: Kernel | None = None) -> KVBox[U]:
        """Take ownership of a pointer from :meth:`into_raw`."""
        return KVBox(elem, ptr, KVmalloc(kernel))
