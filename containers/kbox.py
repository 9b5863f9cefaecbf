"""``Box[T, A]`` and its aliases ``KBox``, ``VBox``, ``KVBox`` (rust/kernel/alloc/kbox.rs).

A box owns one ``Elem[T]`` value in simulated kernel memory.

Invariants (checked one for one by :meth:`Box._check`):
    - B1: the state is alive, dropped or given away;
    - B2: while alive, ``ptr`` is aligned to the element and the kernel holds ``size`` bytes
      there, in one live kmalloc object or the mapped pages of one vmalloc area;
    - B3: while alive, the value is initialised: it decodes as the element type, and for
      ``pyobj`` refers to an object the box keeps alive.

Copies (``copy.copy``, ``copy.deepcopy``, :meth:`Box.clone`) are new allocations from the
same allocator; pickling rebuilds the box on the unpickling process's default kernel.

Example (the method examples below assume ``from containers import *`` and
``from kvalloc import Kernel``):

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

import copy
import pickle
from typing import TYPE_CHECKING, Any, ClassVar, cast

from typing_extensions import Self

from kvalloc._validate import require_int
from kvalloc.alloc import Allocator, Kmalloc, KVmalloc, Layout, Vmalloc
from kvalloc.errors import KernelBug
from kvalloc.gfp import GFP

from ._owner import ALIVE, DROPPED, GIVEN_AWAY, Owner
from ._rawvec import check_owned
from ._typing import A, B, T, U
from .elem import Elem

if TYPE_CHECKING:
    from kvalloc.kernel import Kernel


_KERNEL = GFP.KERNEL


def _rebuild(cls: type[Box[Any, Any]], elem: Elem[Any], alloc: Allocator, value: Any) -> Box[Any, Any]:
    """Unpickle: a fresh box of ``cls`` holding ``value``."""
    box: Box[Any, Any] = cls._boxed(elem, value, alloc, _KERNEL)
    return box


class Box(Owner[T, A]):
    """One owned value in simulated kernel memory.

    Complexity: every operation is O(size of the element), plus the allocation for
    :meth:`new`.

    >>> from kvalloc import Vmalloc
    >>> b = Box.new(u32, 7, alloc=Vmalloc(Kernel())); b
    Box(u32, 7)
    """

    __slots__ = ("_elem", "_alloc", "_ptr", "_state", "__weakref__")
    _alias = "Box"

    def __init__(self, elem: Elem[T], ptr: int, alloc: A) -> None:
        """Internal: use :meth:`new`, :meth:`new_zeroed` or ``from_raw``."""
        self._elem = elem
        self._alloc = alloc
        self._ptr = ptr
        self._state = ALIVE

    @staticmethod
    def _layout_of(elem: Elem[U]) -> Layout:
        if not isinstance(elem, Elem):
            raise TypeError(f"elem must be an element type such as u32, not {type(elem).__name__}")
        if elem.size == 0:
            raise ValueError("zero-sized element types are not supported")
        return Layout(elem.size, elem.align)

    @classmethod
    def _boxed(cls, elem: Elem[Any], value: Any, alloc: Allocator, flags: GFP) -> Any:
        """A ``cls`` holding ``value``: validate, allocate, write."""
        layout = cls._layout_of(elem)
        if not isinstance(alloc, Allocator):
            raise TypeError(f"alloc must be an Allocator, not {type(alloc).__name__}")
        data = elem.pack(value)                     # validate before allocating
        ptr = alloc.alloc(layout, flags)
        alloc.kernel.write(ptr, data)
        elem.incref(value)
        return cls(elem, ptr, cast(Any, alloc))

    @classmethod
    def _zeroed(cls, elem: Elem[Any], alloc: Allocator, flags: GFP) -> Any:
        layout = cls._layout_of(elem)
        flags = GFP(require_int("flags", flags, 0, 1 << 32) | GFP.ZERO)
        return cls(elem, alloc.alloc(layout, flags), cast(Any, alloc))

    @classmethod
    def new(cls, elem: Elem[U], value: U, *, alloc: B, flags: GFP = _KERNEL) -> Box[U, B]:
        """Allocate and store ``value``; AllocError if the allocation fails (nothing changed).

        >>> from kvalloc import Kmalloc
        >>> Box.new(f64, 2.5, alloc=Kmalloc(Kernel())).value
        2.5
        """
        return cast("Box[U, B]", Box._boxed(elem, value, alloc, flags))

    @classmethod
    def new_zeroed(cls, elem: Elem[U], *, alloc: B, flags: GFP = _KERNEL) -> Box[U, B]:
        """Allocate with ``__GFP_ZERO``: the value is all-zero bytes (0, 0.0, False, None).

        >>> from kvalloc import Kmalloc
        >>> Box.new_zeroed(u64, alloc=Kmalloc(Kernel())).value
        0
        """
        return cast("Box[U, B]", Box._zeroed(elem, alloc, flags))

    @property
    def value(self) -> T:
        """The boxed value (read through the page table, KASAN-checked).

        >>> b = KBox.new(u8, 1); b.value = 2; b.value
        2
        """
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
        """The allocation's layout.

        >>> KBox.new(u32, 1).layout
        Layout(size=4, align=4)
        """
        return Layout(self._elem.size, self._elem.align)

    def into_raw(self) -> int:
        """Give the allocation away (the value stays alive); the box becomes unusable.

        >>> b = KBox.new(u16, 7); p = b.into_raw(); b, KBox.from_raw(u16, p).into_inner()
        (KBox(u16, <raw>), 7)
        """
        self._alive()
        self._state = GIVEN_AWAY
        return self._ptr

    def into_inner(self) -> T:
        """Return the value and free the allocation.

        >>> KBox.new(u8, 3).into_inner()
        3
        """
        value = self.value
        self.drop()
        return value

    def clone(self, flags: GFP = _KERNEL) -> Self:
        """A new box of the same class and allocator holding the same value, in a fresh
        allocation (Rust's ``Clone``; a ``pyobj`` value is the same object).

        >>> a = KBox.new(u8, 1); b = a.clone(); b.value = 2; a.value, b.value
        (1, 2)
        """
        return cast(Self, type(self)._boxed(self._elem, self.value, self._alloc, flags))

    def __copy__(self) -> Self:
        return self.clone()

    def __deepcopy__(self, memo: dict[int, Any]) -> Self:
        return cast(Self, type(self)._boxed(self._elem, copy.deepcopy(self.value, memo),
                                            self._alloc, _KERNEL))

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle as element type, allocator kind and value; unpickled on the default kernel."""
        value = self.value
        for what, part in (("element type", self._elem), ("allocator", self._alloc)):
            try:
                pickle.dumps(part)
            except Exception as e:
                raise TypeError(f"cannot pickle {self._alias}: its {what} {part!r} cannot be "
                                f"pickled ({e})") from None
        return _rebuild, (type(self), self._elem, self._alloc, value)

    def drop(self) -> None:
        """Free the allocation now (a no-op when already dropped or given away).

        >>> b = KBox.new(u8, 1); b.drop(); b
        KBox(u8, <dropped>)
        """
        if self._state != ALIVE:
            return
        elem = self._elem
        if elem.holds_refs:
            elem.decref_raw(self._alloc.kernel.read(self._ptr, elem.size))
        self._alloc.free(self._ptr, self.layout)
        self._state = DROPPED

    def _check(self) -> None:
        """Raise KernelBug naming the first broken invariant (B1-B3).

        >>> KBox.new(u8, 1)._check()
        """
        name, state = self._alias, self._state
        if state not in (ALIVE, DROPPED, GIVEN_AWAY):
            raise KernelBug(f"{name} B1: unknown state {state!r}")
        if state != ALIVE:
            return
        elem = self._elem
        check_owned(self._alloc.kernel, self._ptr, elem.size, elem.align, f"{name} B2")
        try:
            elem.unpack(self._alloc.kernel.read(self._ptr, elem.size))
        except Exception as e:
            raise KernelBug(f"{name} B3: the value does not decode as {elem.name}: {e}") from None

    def __repr__(self) -> str:
        return self._repr(self._elem.name, None if self._state else self.value)


class _KernelBox(Box[T, A]):
    """The constructors ``KBox``, ``VBox`` and ``KVBox`` share: the allocator is the class's
    :attr:`_ALLOC` on ``kernel`` (the default kernel when None)."""

    __slots__ = ()
    _ALLOC: ClassVar[type[Kmalloc] | type[Vmalloc] | type[KVmalloc]]

    @classmethod
    def _from_raw(cls, elem: Elem[Any], ptr: int, kernel: Kernel | None) -> Any:
        cls._layout_of(elem)
        require_int("ptr", ptr, 0)
        return cls(elem, ptr, cast(Any, cls._ALLOC(kernel)))


class KBox(_KernelBox[T, Kmalloc]):
    """``KBox<T>``: a box in kmalloc memory (at most ``KMALLOC_MAX_SIZE``).

    >>> KBox.new(u32, 5, kernel=Kernel())
    KBox(u32, 5)
    """

    __slots__ = ()
    _alias = "KBox"
    _ALLOC = Kmalloc

    @classmethod
    def new(cls, elem: Elem[U], value: U, *, kernel: Kernel | None = None,  # type: ignore[override]
            flags: GFP = _KERNEL) -> KBox[U]:
        """Allocate with kmalloc and store ``value``."""
        return cast("KBox[U]", cls._boxed(elem, value, Kmalloc(kernel), flags))

    @classmethod
    def new_zeroed(cls, elem: Elem[U], *, kernel: Kernel | None = None,  # type: ignore[override]
                   flags: GFP = _KERNEL) -> KBox[U]:
        """A zeroed ``KBox``."""
        return cast("KBox[U]", cls._zeroed(elem, Kmalloc(kernel), flags))

    @classmethod
    def from_raw(cls, elem: Elem[U], ptr: int, *, kernel: Kernel | None = None) -> KBox[U]:
        """Take ownership of a pointer from :meth:`into_raw`.

        Safety: ``ptr`` must come from ``into_raw`` of a ``KBox`` of the same element type
        on the same kernel, not yet taken back; taking it twice makes two owners of one
        allocation, which the kernel reports as a double free.
        """
        return cast("KBox[U]", cls._from_raw(elem, ptr, kernel))


class VBox(_KernelBox[T, Vmalloc]):
    """``VBox<T>``: a box in vmalloc memory.

    >>> k = Kernel(); k.is_vmalloc_addr(VBox.new(u8, 1, kernel=k).ptr)
    True
    """

    __slots__ = ()
    _alias = "VBox"
    _ALLOC = Vmalloc

    @classmethod
    def new(cls, elem: Elem[U], value: U, *, kernel: Kernel | None = None,  # type: ignore[override]
            flags: GFP = _KERNEL) -> VBox[U]:
        """Allocate with vmalloc and store ``value``."""
        return cast("VBox[U]", cls._boxed(elem, value, Vmalloc(kernel), flags))

    @classmethod
    def new_zeroed(cls, elem: Elem[U], *, kernel: Kernel | None = None,  # type: ignore[override]
                   flags: GFP = _KERNEL) -> VBox[U]:
        """A zeroed ``VBox``."""
        return cast("VBox[U]", cls._zeroed(elem, Vmalloc(kernel), flags))

    @classmethod
    def from_raw(cls, elem: Elem[U], ptr: int, *, kernel: Kernel | None = None) -> VBox[U]:
        """Take ownership of a pointer from :meth:`into_raw`.

        Safety: as :meth:`KBox.from_raw`, for a ``VBox``.
        """
        return cast("VBox[U]", cls._from_raw(elem, ptr, kernel))


class KVBox(_KernelBox[T, KVmalloc]):
    """``KVBox<T>``: a box in kmalloc memory, or vmalloc memory when it is large.

    >>> KVBox.new(u8, 1, kernel=Kernel()).value
    1
    """

    __slots__ = ()
    _alias = "KVBox"
    _ALLOC = KVmalloc

    @classmethod
    def new(cls, elem: Elem[U], value: U, *, kernel: Kernel | None = None,  # type: ignore[override]
            flags: GFP = _KERNEL) -> KVBox[U]:
        """Allocate with kvmalloc and store ``value``."""
        return cast("KVBox[U]", cls._boxed(elem, value, KVmalloc(kernel), flags))

    @classmethod
    def new_zeroed(cls, elem: Elem[U], *, kernel: Kernel | None = None,  # type: ignore[override]
                   flags: GFP = _KERNEL) -> KVBox[U]:
        """A zeroed ``KVBox``."""
        return cast("KVBox[U]", cls._zeroed(elem, KVmalloc(kernel), flags))

    @classmethod
    def from_raw(cls, elem: Elem[U], ptr: int, *, kernel: Kernel | None = None) -> KVBox[U]:
        """Take ownership of a pointer from :meth:`into_raw`.

        Safety: as :meth:`KBox.from_raw`, for a ``KVBox``.
        """
        return cast("KVBox[U]", cls._from_raw(elem, ptr, kernel))


__all__ = ["Box", "KBox", "KVBox", "VBox"]
