"""``Box[T, A]`` and its aliases ``KBox``, ``VBox``, ``KVBox`` (rust/kernel/alloc/kbox.rs).

A box owns one ``Elem[T]`` value in simulated kernel memory.

Invariants (checked one for one by :meth:`Box._check`):
    - B1: the state is alive, dropped or given away;
    - B2: while alive, ``ptr`` is aligned to the element and the kernel holds ``size`` bytes
      there, in one live kmalloc object or the mapped pages of one vmalloc area (a
      zero-sized value, such as an empty boxed slice, owns no memory: ``ptr`` is the
      dangling pointer of its alignment);
    - B3: while alive and initialised, the value decodes as the element type, and for
      ``pyobj`` refers to an object the box keeps alive.

``Box<MaybeUninit<T>>`` is spelled here as a box whose :attr:`Box.is_init` is false
(:meth:`Box.new_uninit`, :meth:`Box.drop_contents`), and ``Pin<Box<T>>`` as a box whose
:attr:`Box.is_pinned` is true (:meth:`Box.pin`, :meth:`Box.into_pin`): the same class, so
the element and allocator types stay exact.

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
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, ClassVar, cast

from typing_extensions import Self

from kvalloc._validate import require_int
from kvalloc.alloc import Allocator, Kmalloc, KVmalloc, Layout, Vmalloc
from kvalloc.errors import KernelBug
from kvalloc.gfp import GFP

from ._owner import ALIVE, DROPPED, GIVEN_AWAY, Owner
from ._rawvec import _KERNEL, check_owned
from ._typing import A, B, T, U
from .elem import Array, Elem

if TYPE_CHECKING:
    from kvalloc.kernel import Kernel


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

    __slots__ = ("_elem", "_alloc", "_ptr", "_state", "_init", "_pinned", "__weakref__")
    _alias = "Box"

    def __init__(self, elem: Elem[T], ptr: int, alloc: A, init: bool = True) -> None:
        """Internal: use :meth:`new`, :meth:`new_zeroed`, :meth:`new_uninit` or ``from_raw``."""
        self._elem = elem
        self._alloc = alloc
        self._ptr = ptr
        self._init = init
        self._pinned = False
        self._state = ALIVE

    @staticmethod
    def _layout_of(elem: Elem[U]) -> Layout:
        if not isinstance(elem, Elem):
            raise TypeError(f"elem must be an element type such as u32, not {type(elem).__name__}")
        return Layout(elem.size, elem.align)

    @classmethod
    def _boxed(cls, elem: Elem[Any], value: Any, alloc: Allocator, flags: GFP) -> Any:
        """A ``cls`` holding ``value``: validate, allocate, write."""
        box = cls._uninit(elem, alloc, flags, elem.pack(value))    # validated before allocating
        elem.incref(value)
        return box

    @classmethod
    def _uninit(cls, elem: Elem[Any], alloc: Allocator, flags: GFP,
                data: bytes | None = None) -> Any:
        """A ``cls`` owning a fresh allocation for ``elem``, holding ``data`` if given."""
        layout = cls._layout_of(elem)
        if not isinstance(alloc, Allocator):
            raise TypeError(f"alloc must be an Allocator, not {type(alloc).__name__}")
        ptr = alloc.alloc(layout, flags)
        if data:
            alloc.kernel.write(ptr, data)
        return cls(elem, ptr, cast(Any, alloc), data is not None)

    @classmethod
    def _zeroed(cls, elem: Elem[Any], alloc: Allocator, flags: GFP) -> Any:
        flags = GFP(require_int("flags", flags, 0, 1 << 32) | GFP.ZERO)
        return cls._uninit(elem, alloc, flags, b"")

    @classmethod
    def _pinned_new(cls, elem: Elem[Any], value: Any, alloc: Allocator, flags: GFP) -> Any:
        box = cls._boxed(elem, value, alloc, flags)
        box._pinned = True
        return box

    @classmethod
    def _slice(cls, elem: Elem[Any], items: Any, alloc: Allocator, flags: GFP) -> Any:
        if not isinstance(elem, Elem):
            raise TypeError(f"elem must be an element type such as u32, not {type(elem).__name__}")
        values = list(items)
        return cls._boxed(Array(elem, len(values)), values, alloc, flags)

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

    @classmethod
    def new_uninit(cls, elem: Elem[U], *, alloc: B, flags: GFP = _KERNEL) -> Box[U, B]:
        """Allocate without storing a value (``Box::new_uninit``): :attr:`is_init` is false
        until :meth:`write` or :meth:`assume_init`. O(1) plus the allocation.

        >>> from kvalloc import Kmalloc
        >>> b = Box.new_uninit(u32, alloc=Kmalloc(Kernel())); b
        Box(u32, <uninit>)
        >>> b.write(5).value
        5
        """
        return cast("Box[U, B]", Box._uninit(elem, alloc, flags))

    @classmethod
    def pin(cls, elem: Elem[U], value: U, *, alloc: B, flags: GFP = _KERNEL) -> Box[U, B]:
        """:meth:`new`, pinned (``Box::pin``): the value can be read and replaced in place
        but never moved out (see :attr:`is_pinned`).

        >>> from kvalloc import Kmalloc
        >>> Box.pin(u8, 1, alloc=Kmalloc(Kernel())).is_pinned
        True
        """
        return cast("Box[U, B]", Box._pinned_new(elem, value, alloc, flags))

    @classmethod
    def from_slice(cls, elem: Elem[U], items: Iterable[U], *, alloc: B,
                   flags: GFP = _KERNEL) -> Box[list[U], B]:
        """A boxed slice (``Box<[T]>``): the items in one allocation, as a box of
        ``Array(elem, len(items))``. O(len) plus the allocation.

        >>> from kvalloc import Kmalloc
        >>> Box.from_slice(u16, [1, 2], alloc=Kmalloc(Kernel()))
        Box(Array(u16, 2), [1, 2])
        """
        return cast("Box[list[U], B]", Box._slice(elem, items, alloc, flags))

    # -- initialisation and pinning ---------------------------------------------------

    @property
    def is_init(self) -> bool:
        """Whether the box holds a value (false after :meth:`new_uninit` or
        :meth:`drop_contents`, until :meth:`write`)."""
        return self._init

    @property
    def is_pinned(self) -> bool:
        """Whether the box is pinned: then :meth:`into_inner`, :meth:`into_raw`,
        :meth:`leak` and :meth:`drop_contents` raise TypeError (the value may not move or
        end while the box lives); reading and assigning :attr:`value` still work, as
        ``Pin::set`` does."""
        return self._pinned

    def _unpinned(self, what: str) -> None:
        if self._pinned:
            raise TypeError(f"{what}: this {self._alias} is pinned; its value may not be "
                            "moved out")

    def write(self, value: T) -> Self:
        """Store ``value`` in an uninitialised box and return it, initialised
        (``Box::write``). ValueError if the box already holds a value. O(size).

        >>> b = KBox.new_uninit(u8); b.write(3) is b, b.value
        (True, 3)
        """
        self._alive()
        if self._init:
            raise ValueError(f"this {self._alias} already holds a value; assign .value")
        elem = self._elem
        data = elem.pack(value)
        if data:
            self._alloc.kernel.write(self._ptr, data)
        elem.incref(value)
        self._init = True
        return self

    def assume_init(self) -> Self:
        """Declare the bytes already in the box its value (``Box::assume_init``), after
        checking that they decode: ValueError (box unchanged) otherwise, and always for
        element types holding Python references unless the bytes are all zero (``None``):
        stray bytes are no reference. O(size).

        >>> b = KBox.new_uninit(u8, flags=GFP.KERNEL | GFP.ZERO); b.assume_init().value
        0
        """
        self._alive()
        if self._init:
            return self
        elem = self._elem
        data = self._alloc.kernel.read(self._ptr, elem.size) if elem.size else b""
        if elem.holds_refs and any(data):
            raise ValueError(f"assume_init: {elem.name} bytes that were not written through "
                             "the box hold no reference (only all-zero bytes, None, do); "
                             "use write()")
        try:
            elem.unpack(data)
        except Exception as e:
            raise ValueError(f"assume_init: the bytes do not decode as {elem.name}: {e}") from None
        self._init = True
        return self

    def drop_contents(self) -> Self:
        """End the value but keep the allocation (``Box::drop_contents``); the box is then
        uninitialised. O(size).

        >>> b = KBox.new(u8, 1); b.drop_contents().is_init
        False
        """
        self._alive()
        self._unpinned("drop_contents")
        if self._init:
            elem = self._elem
            if elem.holds_refs:
                elem.decref_raw(self._alloc.kernel.read(self._ptr, elem.size))
            self._init = False
        return self

    def into_pin(self) -> Self:
        """Pin this box (``Box::into_pin``) and return it. O(1).

        >>> KBox.new(u8, 1).into_pin().is_pinned
        True
        """
        self._alive()
        self._pinned = True
        return self

    def leak(self) -> int:
        """Give up the allocation for good and return its address (``Box::leak``, which
        returns ``&'static mut T``; Python has no borrowed references, so read it with
        ``kernel.read``). The memory is never freed. O(1).

        >>> k = Kernel(); p = KBox.new(u8, 65, kernel=k).leak(); k.read(p, 1)
        b'A'
        """
        self._alive()
        self._unpinned("leak")
        self._state = GIVEN_AWAY
        return self._ptr

    @property
    def value(self) -> T:
        """The boxed value (read through the page table, KASAN-checked). ValueError while
        the box is uninitialised; assigning initialises it.

        >>> b = KBox.new(u8, 1); b.value = 2; b.value
        2
        """
        self._alive()
        if not self._init:
            raise ValueError(f"this {self._alias} is not initialised: write() a value first")
        size = self._elem.size
        return self._elem.unpack(self._alloc.kernel.read(self._ptr, size) if size else b"")

    @value.setter
    def value(self, value: T) -> None:
        self._alive()
        elem = self._elem
        data = elem.pack(value)
        if not data:
            self._init = True
            return
        k = self._alloc.kernel
        old = k.read(self._ptr, elem.size) if elem.holds_refs and self._init else b""
        k.write(self._ptr, data)
        elem.incref(value)
        if old:
            elem.decref_raw(old)
        self._init = True

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
        self._unpinned("into_raw")
        if not self._init:
            raise ValueError(f"this {self._alias} is not initialised: write() a value first")
        self._state = GIVEN_AWAY
        return self._ptr

    def into_inner(self) -> T:
        """Return the value and free the allocation.

        >>> KBox.new(u8, 3).into_inner()
        3
        """
        self._alive()
        self._unpinned("into_inner")
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
        if elem.holds_refs and self._init:
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
        if elem.size == 0:
            if self._ptr != elem.align:
                raise KernelBug(f"{name} B2: a zero-sized value at {self._ptr:#x}, not the "
                                f"dangling pointer {elem.align:#x}")
            return
        check_owned(self._alloc.kernel, self._ptr, elem.size, elem.align, f"{name} B2")
        if not self._init:
            return
        try:
            elem.unpack(self._alloc.kernel.read(self._ptr, elem.size))
        except Exception as e:
            raise KernelBug(f"{name} B3: the value does not decode as {elem.name}: {e}") from None

    def __repr__(self) -> str:
        if self._state == ALIVE and not self._init:
            return f"{self._alias}({self._elem.name}, <uninit>)"
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
    def new_uninit(cls, elem: Elem[U], *, kernel: Kernel | None = None,  # type: ignore[override]
                   flags: GFP = _KERNEL) -> KBox[U]:
        """An uninitialised ``KBox`` (see :meth:`Box.new_uninit`)."""
        return cast("KBox[U]", cls._uninit(elem, Kmalloc(kernel), flags))

    @classmethod
    def pin(cls, elem: Elem[U], value: U, *, kernel: Kernel | None = None,  # type: ignore[override]
            flags: GFP = _KERNEL) -> KBox[U]:
        """A pinned ``KBox`` (see :meth:`Box.pin`)."""
        return cast("KBox[U]", cls._pinned_new(elem, value, Kmalloc(kernel), flags))

    @classmethod
    def from_slice(cls, elem: Elem[U], items: Iterable[U], *,  # type: ignore[override]
                   kernel: Kernel | None = None, flags: GFP = _KERNEL) -> KBox[list[U]]:
        """A boxed slice in kmalloc memory (see :meth:`Box.from_slice`)."""
        return cast("KBox[list[U]]", cls._slice(elem, items, Kmalloc(kernel), flags))

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
    def new_uninit(cls, elem: Elem[U], *, kernel: Kernel | None = None,  # type: ignore[override]
                   flags: GFP = _KERNEL) -> VBox[U]:
        """An uninitialised ``VBox`` (see :meth:`Box.new_uninit`)."""
        return cast("VBox[U]", cls._uninit(elem, Vmalloc(kernel), flags))

    @classmethod
    def pin(cls, elem: Elem[U], value: U, *, kernel: Kernel | None = None,  # type: ignore[override]
            flags: GFP = _KERNEL) -> VBox[U]:
        """A pinned ``VBox`` (see :meth:`Box.pin`)."""
        return cast("VBox[U]", cls._pinned_new(elem, value, Vmalloc(kernel), flags))

    @classmethod
    def from_slice(cls, elem: Elem[U], items: Iterable[U], *,  # type: ignore[override]
                   kernel: Kernel | None = None, flags: GFP = _KERNEL) -> VBox[list[U]]:
        """A boxed slice in vmalloc memory (see :meth:`Box.from_slice`)."""
        return cast("VBox[list[U]]", cls._slice(elem, items, Vmalloc(kernel), flags))

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
    def new_uninit(cls, elem: Elem[U], *, kernel: Kernel | None = None,  # type: ignore[override]
                   flags: GFP = _KERNEL) -> KVBox[U]:
        """An uninitialised ``KVBox`` (see :meth:`Box.new_uninit`)."""
        return cast("KVBox[U]", cls._uninit(elem, KVmalloc(kernel), flags))

    @classmethod
    def pin(cls, elem: Elem[U], value: U, *, kernel: Kernel | None = None,  # type: ignore[override]
            flags: GFP = _KERNEL) -> KVBox[U]:
        """A pinned ``KVBox`` (see :meth:`Box.pin`)."""
        return cast("KVBox[U]", cls._pinned_new(elem, value, KVmalloc(kernel), flags))

    @classmethod
    def from_slice(cls, elem: Elem[U], items: Iterable[U], *,  # type: ignore[override]
                   kernel: Kernel | None = None, flags: GFP = _KERNEL) -> KVBox[list[U]]:
        """A boxed slice in kvmalloc memory (see :meth:`Box.from_slice`)."""
        return cast("KVBox[list[U]]", cls._slice(elem, items, KVmalloc(kernel), flags))

    @classmethod
    def from_raw(cls, elem: Elem[U], ptr: int, *, kernel: Kernel | None = None) -> KVBox[U]:
        """Take ownership of a pointer from :meth:`into_raw`.

        Safety: as :meth:`KBox.from_raw`, for a ``KVBox``.
        """
        return cast("KVBox[U]", cls._from_raw(elem, ptr, kernel))


_BOX_FOR: dict[type, type[Box[Any, Any]]] = {Kmalloc: KBox, Vmalloc: VBox, KVmalloc: KVBox}

__all__ = ["Box", "KBox", "KVBox", "VBox"]
