"""Element types: how a Python value is stored in simulated memory (docs/guide.md#element-types).

Each ``Elem[T]`` has a ``size``, an ``align`` and a ``name``. Storing a value out of range
raises ``OverflowError``, a value of the wrong type ``TypeError``, and nothing is written.

>>> from containers.elem import u8, f32, Array, Struct
>>> u8.size, f32.name, Array(u8, 3).size, Struct("<hI").size
(1, 'f32', 3, 6)
>>> u8.validate(256)
Traceback (most recent call last):
...
OverflowError: u8 value 256 out of range [0, 255]
"""

from __future__ import annotations

import operator
import struct
from typing import Any, ClassVar, Final, Generic, SupportsFloat, SupportsIndex, TypeVar, cast

from kvalloc._validate import require_int

T = TypeVar("T")

_FLT_MAX = 3.4028234663852886e38


class Elem(Generic[T]):
    """An element type; ``fmt`` is its ``memoryview`` format for the flat fast path, if any.

    ``raw_ok`` is true when an ``array``/``memoryview`` store of ``fmt`` accepts exactly the
    values :meth:`validate` accepts (raising ``TypeError``, or ``OverflowError`` for a range
    error), so the containers can store a batch of values without a Python-level check.
    The push fast path relies on it: it stores first and asks :meth:`validate` for the
    error only when the store refuses. Acceptance follows ``struct`` and ``array``:
    integer types take any object with ``__index__``, float types any object with
    ``__float__`` or ``__index__``, whichever path stores the value.

    Instances pickle by reference when they are module globals (``u8``, ``pyobj``) and by
    their constructor arguments otherwise (``Array``, ``Struct``, a user-made ``Elem``).
    """

    __slots__ = ("name", "size", "align", "fmt", "raw_ok", "holds_refs",
                 "_st", "_args")
    #: Every ``size``-byte pattern decodes (fixed-width integers, IEEE floats): a buffer of
    #: them cannot hold an element that fails to decode, so ``_check`` need not try each.
    any_bytes_decode: ClassVar[bool] = False

    def __init__(self, name: str, fmt: str, *, align: int | None = None, view_fmt: bool = True,
                 raw_ok: bool = False) -> None:
        self.name = name
        self._st = struct.Struct(fmt)
        self.size = self._st.size
        self.align = align if align is not None else max(1, min(8, self.size))
        self.fmt = fmt.lstrip("<=@") if view_fmt else None
        self.raw_ok = raw_ok
        self.holds_refs = False
        self._args: tuple[Any, ...] = (name, fmt, align, view_fmt, raw_ok)

    def __reduce__(self) -> str | tuple[Any, ...]:
        name: str = self.name
        if globals().get(name) is self:
            return name                     # a predefined type: by its global name
        return type(self), self._args

    def __eq__(self, other: object) -> bool:
        """Two element types are equal when built the same way: ``Struct("<IH") ==
        Struct("<IH")``, and a pickled ``Array(u8, 3)`` equals the original. O(1)."""
        if self is other:
            return True
        if not isinstance(other, Elem) or type(other) is not type(self):
            return NotImplemented
        return self._args == other._args

    def __hash__(self) -> int:
        return hash((type(self), self._args))

    def __repr__(self) -> str:
        return self.name

    def validate(self, value: object) -> None:
        """Raise ``TypeError`` / ``OverflowError`` if ``value`` cannot be stored."""
        try:
            self._st.pack(value)
        except struct.error as e:
            raise TypeError(f"{self.name} cannot store {value!r}: {e}") from None

    def pack(self, value: T) -> bytes:
        """The ``size`` bytes for ``value`` (validated)."""
        self.validate(value)
        return self._st.pack(value)

    def unpack(self, data: bytes | memoryview) -> T:
        """The value stored in ``size`` bytes."""
        v: T = self._st.unpack(data)[0]
        return v

    # reference bookkeeping (pyobj and aggregates of it)
    def incref(self, value: T) -> None:
        """Start keeping whatever ``value`` refers to alive (only ``pyobj`` does anything)."""

    def decref_raw(self, data: bytes | memoryview) -> None:
        """Stop keeping alive what the stored bytes refer to."""


class _Int(Elem[int]):
    __slots__ = ("lo", "hi")
    any_bytes_decode = True

    def __init__(self, name: str, fmt: str, lo: int, hi: int) -> None:
        super().__init__(name, fmt, raw_ok=True)
        self.lo, self.hi = lo, hi

    def validate(self, value: object) -> None:
        if type(value) is not int:
            if not hasattr(type(value), "__index__"):  # as struct.pack and array take it
                raise TypeError(f"{self.name} needs an int, not {type(value).__name__}")
            value = operator.index(cast(SupportsIndex, value))
        if not self.lo <= value <= self.hi:
            raise OverflowError(f"{self.name} value {value} out of range [{self.lo}, {self.hi}]")


class _Float(Elem[float]):
    __slots__ = ()
    any_bytes_decode = True

    def validate(self, value: object) -> None:
        t = type(value)
        if t is not float and not hasattr(t, "__float__") and not hasattr(t, "__index__"):
            raise TypeError(f"{self.name} needs a float, not {t.__name__}")   # as PyFloat_AsDouble
        try:
            f = float(cast(SupportsFloat, value))
        except OverflowError:
            raise OverflowError(f"{self.name} value {value} out of range") from None
        if self.size == 4 and abs(f) > _FLT_MAX and abs(f) != float("inf"):
            raise OverflowError(f"{self.name} value {value} out of range")

    def unpack(self, data: bytes | memoryview) -> float:
        v: float = self._st.unpack(data)[0]
        return v


class _Bool(Elem[bool]):
    __slots__ = ()

    def validate(self, value: object) -> None:
        if type(value) is not bool:
            raise TypeError(f"boolean needs a bool, not {type(value).__name__}")


class _Handles:
    """Objects kept alive by ``pyobj`` elements: handle -> [object, number of references]."""

    def __init__(self) -> None:
        self.table: dict[int, list[Any]] = {}

    def handle(self, obj: object) -> int:
        return 0 if obj is None else id(obj)

    def incref(self, obj: object) -> None:
        if obj is None:
            return
        entry = self.table.get(id(obj))
        if entry is None:
            self.table[id(obj)] = [obj, 1]
        else:
            entry[1] += 1

    def decref(self, handle: int) -> None:
        if handle == 0:
            return
        entry = self.table.get(handle)
        if entry is not None:
            entry[1] -= 1
            if entry[1] == 0:
                del self.table[handle]

    def get(self, handle: int) -> object:
        if handle == 0:
            return None
        entry = self.table.get(handle)
        if entry is None:
            raise ValueError(f"pyobj handle {handle:#x} refers to no live object")
        return entry[0]


HANDLES: Final = _Handles()


class _PyObj(Elem[object]):
    """Any Python object, stored as an 8-byte handle; alive while an element refers to it."""

    __slots__ = ()

    def __init__(self) -> None:
        super().__init__("pyobj", "<Q", view_fmt=False)
        self.holds_refs = True

    def validate(self, value: object) -> None:
        pass

    def pack(self, value: object) -> bytes:
        return self._st.pack(HANDLES.handle(value))

    def unpack(self, data: bytes | memoryview) -> object:
        return HANDLES.get(self._st.unpack(data)[0])

    def incref(self, value: object) -> None:
        HANDLES.incref(value)

    def decref_raw(self, data: bytes | memoryview) -> None:
        HANDLES.decref(self._st.unpack(data)[0])


class Array(Elem[list[T]]):
    """``[T; n]``: ``n`` consecutive elements, stored and read as a list of length ``n``."""

    __slots__ = ("elem", "n")

    def __init__(self, elem: Elem[T], n: int) -> None:
        if not isinstance(elem, Elem):
            raise TypeError(f"Array needs an element type, not {type(elem).__name__}")
        require_int("Array length", n, 0)
        Elem.__init__(self, f"Array({elem.name}, {n})", "<0s", view_fmt=False)
        self._args = (elem, n)
        self.elem, self.n = elem, n
        self.size = elem.size * n
        self.align = elem.align
        self.holds_refs = elem.holds_refs

    def validate(self, value: object) -> None:
        if not isinstance(value, (list, tuple)):
            raise TypeError(f"{self.name} needs a list, not {type(value).__name__}")
        if len(value) != self.n:
            raise TypeError(f"{self.name} needs {self.n} items, got {len(value)}")
        for v in value:
            self.elem.validate(v)

    def pack(self, value: list[T]) -> bytes:
        self.validate(value)
        return b"".join(self.elem.pack(v) for v in value)

    def unpack(self, data: bytes | memoryview) -> list[T]:
        s = self.elem.size
        return [self.elem.unpack(data[i * s:(i + 1) * s]) for i in range(self.n)]

    def incref(self, value: list[T]) -> None:
        if self.holds_refs:
            for v in value:
                self.elem.incref(v)

    def decref_raw(self, data: bytes | memoryview) -> None:
        if self.holds_refs:
            s = self.elem.size
            for i in range(self.n):
                self.elem.decref_raw(data[i * s:(i + 1) * s])


class Struct(Elem[tuple[Any, ...]]):
    """A C-like record given as a :mod:`struct` format; values are tuples."""

    __slots__ = ()

    def __init__(self, fmt: str) -> None:
        if not isinstance(fmt, str):
            raise TypeError(f"Struct format must be str, not {type(fmt).__name__}")
        try:
            st = struct.Struct(fmt)
        except struct.error as e:
            raise ValueError(f"bad struct format {fmt!r}: {e}") from None
        native = not fmt or fmt[0] not in "<>!="
        align = 1
        if native:
            for code, a in (("qQdPnN", 8), ("iIlLf", 4), ("hHe", 2)):
                if any(c in fmt for c in code):
                    align = max(align, a)
        Elem.__init__(self, f"Struct({fmt!r})", fmt, align=align, view_fmt=False)
        self._args = (fmt,)
        self._st = st

    def validate(self, value: object) -> None:
        if not isinstance(value, tuple):
            raise TypeError(f"{self.name} needs a tuple, not {type(value).__name__}")
        try:
            self._st.pack(*value)
        except struct.error as e:
            msg = str(e)
            if "range" in msg or "format requires" in msg:
                raise OverflowError(f"{self.name}: {msg}") from None
            raise TypeError(f"{self.name}: {msg}") from None
        except OverflowError as e:
            raise OverflowError(f"{self.name}: {e}") from None

    def pack(self, value: tuple[Any, ...]) -> bytes:
        self.validate(value)
        return self._st.pack(*value)

    def unpack(self, data: bytes | memoryview) -> tuple[Any, ...]:
        return self._st.unpack(data)


u8: Final[Elem[int]] = _Int("u8", "<B", 0, 2**8 - 1)
u16: Final[Elem[int]] = _Int("u16", "<H", 0, 2**16 - 1)
u32: Final[Elem[int]] = _Int("u32", "<I", 0, 2**32 - 1)
u64: Final[Elem[int]] = _Int("u64", "<Q", 0, 2**64 - 1)
i8: Final[Elem[int]] = _Int("i8", "<b", -2**7, 2**7 - 1)
i16: Final[Elem[int]] = _Int("i16", "<h", -2**15, 2**15 - 1)
i32: Final[Elem[int]] = _Int("i32", "<i", -2**31, 2**31 - 1)
i64: Final[Elem[int]] = _Int("i64", "<q", -2**63, 2**63 - 1)
usize: Final[Elem[int]] = _Int("usize", "<Q", 0, 2**64 - 1)
isize: Final[Elem[int]] = _Int("isize", "<q", -2**63, 2**63 - 1)
f32: Final[Elem[float]] = _Float("f32", "<f")
f64: Final[Elem[float]] = _Float("f64", "<d", raw_ok=True)
boolean: Final[Elem[bool]] = _Bool("boolean", "<?")
pyobj: Final[Elem[object]] = _PyObj()

__all__ = ["Array", "Elem", "Struct", "boolean", "f32", "f64", "i16", "i32", "i64", "i8",
           "isize", "pyobj", "u16", "u32", "u64", "u8", "usize"]
