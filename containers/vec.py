"""``Vec[T, A]`` and its aliases ``KVec``, ``VVec``, ``KVVec`` (rust/kernel/alloc/kvec.rs).

The elements live in simulated kernel memory at :attr:`Vec.ptr`; the buffer grows and
shrinks only through ``alloc.realloc`` (so through krealloc / vrealloc / kvrealloc), never by
copying itself. A vector is also a Python ``MutableSequence``.

Invariants:
    - ``0 <= len <= capacity``; a vector of capacity 0 owns no memory and ``ptr`` is dangling;
    - elements ``[0, len)`` are initialised, and for ``pyobj`` each keeps its object alive;
    - a failed allocation leaves length, capacity, pointer and contents exactly as they were.

Growth: ``new capacity = max(2 * cap, len + additional)`` (``RUST_KVEC``), no minimum.

Example:
    >>> from containers import KVec, u32
    >>> from kvalloc import Kernel
    >>> v = KVec(u32, kernel=Kernel())
    >>> caps = []
    >>> for i in range(5):
    ...     v.push(i); caps.append(v.capacity)
    >>> v, caps
    (KVec(u32, [0, 1, 2, 3, 4]), [1, 2, 4, 4, 8])
"""

from __future__ import annotations

import array
import dataclasses
from collections.abc import Iterable, Iterator, MutableSequence
from typing import TYPE_CHECKING, Any, cast, overload

from typing_extensions import Self

from kvalloc.alloc import Allocator, Kmalloc, KVmalloc, Layout, Vmalloc
from kvalloc.constants import NUMA_NO_NODE, PAGE_SIZE
from kvalloc.gfp import GFP

from ._owner import Owner
from ._typing import A, B, T, U
from .elem import Elem
from .errors import InsertError, PushError
from .growth import RUST_KVEC, GrowthPolicy

if TYPE_CHECKING:
    from kvalloc.kernel import Kernel
    from kvalloc.mm.access import DirectView, ShadowClock


_KERNEL = GFP.KERNEL
_ARRAY_CODES = frozenset("BHIQbhiqfd")


@dataclasses.dataclass(frozen=True)
class VecStats:
    """What a vector's buffer went through: reallocations, in place or moved, bytes copied."""

    reallocs: int
    in_place: int
    moved: int
    bytes_copied: int


def _cast(view: memoryview, fmt: str) -> Any:
    """``view.cast(fmt)`` for a format known only at run time."""
    v: Any = view
    return v.cast(fmt)


class _Paged:
    """Typed element access over per-page views (frames not physically contiguous)."""

    __slots__ = ("pages", "base", "sh", "mask")

    def __init__(self, view: DirectView, fmt: str, first: int, per_page: int) -> None:
        self.pages = view.typed_pages(fmt).cache        # each page cast on first use
        self.base = first
        self.sh = per_page.bit_length() - 1
        self.mask = per_page - 1

    def __getitem__(self, i: int) -> Any:
        j = i + self.base
        return self.pages[j >> self.sh][j & self.mask]

    def __setitem__(self, i: int, value: Any) -> None:
        j = i + self.base
        self.pages[j >> self.sh][j & self.mask] = value


class Vec(Owner[T, A], MutableSequence[T]):
    """A growable array of ``Elem[T]`` values in simulated kernel memory, allocated by ``A``.

    Complexity: indexing O(1); push amortised O(1); insert / delete O(len) (a memmove in
    simulated memory); growth costs what the kernel's realloc costs (in place or a copy).
    """

    __slots__ = ("_elem", "_alloc", "_flags", "_growth", "_kernel", "_ptr", "_len", "_cap",
                 "_view", "_mv", "_flat", "_room", "_kasan", "_kgen", "_stats", "_state",
                 "__weakref__")

    _alias = "Vec"

    def __init__(self, elem: Elem[T], iterable: Iterable[T] = (), *, alloc: A,
                 flags: GFP = _KERNEL, growth: GrowthPolicy = RUST_KVEC) -> None:
        if not isinstance(elem, Elem):
            raise TypeError(f"elem must be an element type such as u32, not {type(elem).__name__}")
        if elem.size == 0:
            raise ValueError("zero-sized element types are not supported")
        if not isinstance(alloc, Allocator):
            raise TypeError(f"alloc must be an Allocator, not {type(alloc).__name__}")
        if not isinstance(flags, int) or isinstance(flags, bool):
            raise TypeError(f"flags must be GFP, not {type(flags).__name__}")
        if not callable(growth):
            raise TypeError(f"growth must be a policy callable, not {type(growth).__name__}")
        self._elem = elem
        self._alloc = alloc
        self._flags = GFP(flags)
        self._growth = growth
        self._kernel: Kernel = alloc.kernel
        self._ptr = Layout(0, elem.align).dangling()
        self._len = 0
        self._cap = 0
        self._view: DirectView | None = None
        self._mv: Any = None
        self._flat: memoryview | None = None
        self._room = -1
        self._kasan: ShadowClock | None = None     # the KASAN shadow clock of the view
        self._kgen = -1
        self._stats = [0, 0, 0, 0]
        self._state = 0            # 0 alive, 1 dropped, 2 given away by into_raw_parts
        items = list(iterable)
        if items:
            for v in items:
                elem.validate(v)
            self._realloc(len(items), self._flags)
            self._store_many(0, items)
            self._len = len(items)

    # -- constructors ---------------------------------------------------------------

    @classmethod
    def with_capacity(cls, elem: Elem[U], capacity: int, *, alloc: B,
                      flags: GFP = _KERNEL) -> Vec[U, B]:
        """An empty vector with room for exactly ``capacity`` elements."""
        v: Vec[U, B] = Vec(elem, alloc=alloc, flags=flags)
        v.reserve(capacity, flags)
        return v

    @classmethod
    def from_raw_parts(cls, elem: Elem[U], ptr: int, length: int, capacity: int, *,
                       alloc: B) -> Vec[U, B]:
        """Take ownership of a buffer from :meth:`into_raw_parts` (same element and allocator)."""
        v: Vec[U, B] = Vec(elem, alloc=alloc)
        v._adopt(ptr, length, capacity)
        return v

    def _adopt(self, ptr: int, length: int, capacity: int) -> None:
        for name, value in (("ptr", ptr), ("length", length), ("capacity", capacity)):
            if not isinstance(value, int) or isinstance(value, bool):
                raise TypeError(f"{name} must be int, not {type(value).__name__}")
        if not 0 <= length <= capacity:
            raise ValueError(f"need 0 <= length <= capacity, got {length} and {capacity}")
        self._ptr, self._len, self._cap = ptr, length, capacity
        if capacity == 0:
            self._ptr = Layout(0, self._elem.align).dangling()
        self._remap()

    def _like(self, items: list[T]) -> Self:
        """A new vector of the same class, element type and allocator holding ``items``."""
        new = object.__new__(type(self))
        Vec.__init__(new, self._elem, items, alloc=self._alloc, flags=self._flags,
                     growth=self._growth)
        return new

    # -- the buffer -----------------------------------------------------------------

    def _layout(self, cap: int) -> Layout:
        return Layout.array(Layout(self._elem.size, self._elem.align), cap)

    def _remap(self) -> None:
        """Refresh the fast-path views after the buffer changed."""
        self._view = self._mv = self._flat = None
        self._room = -1
        self._kgen = -1
        if self._cap == 0:
            return
        elem, size = self._elem, self._elem.size
        view = self._kernel.direct_view(self._ptr, self._cap * size)
        self._view, self._flat, self._kasan = view, view.flat, view.shadow
        fmt = elem.fmt
        if fmt is not None:
            if view.flat is not None:
                self._mv = _cast(view.flat, fmt)
            elif PAGE_SIZE % size == 0 and view.offset % size == 0:
                self._mv = _Paged(view, fmt, view.offset // size, PAGE_SIZE // size)
        if self._mv is not None and elem.raw_ok and self._kasan is None:
            self._room = self._cap

    def _kasan_ok(self, i: int, n: int, write: bool, label: str) -> None:
        """KASAN-check elements ``[i, i + n)`` and refresh the fast room (KASAN on only)."""
        view, shadow = self._view, self._kasan
        if view is None or shadow is None or n <= 0:
            return
        size = self._elem.size
        view.check_access(i * size, n * size, write, label)
        if self._mv is not None and self._elem.raw_ok and shadow.generation != self._kgen:
            ok = view.room()
            self._kgen = shadow.generation
            self._room = min(self._cap, ok // size)

    def _realloc(self, new_cap: int, flags: GFP) -> None:
        """Resize the buffer to ``new_cap`` elements through the allocator (atomic)."""
        old_cap = self._cap
        old_layout, new_layout = self._layout(old_cap), self._layout(new_cap)
        ptr = None if old_cap == 0 else self._ptr
        new_ptr, copied = self._alloc.realloc_counted(ptr, new_layout, old_layout, flags,
                                                      NUMA_NO_NODE)
        st = self._stats
        st[0] += 1
        if old_cap and new_cap:
            if new_ptr == self._ptr:
                st[1] += 1
            else:
                st[2] += 1
                st[3] += copied
        self._ptr, self._cap = new_ptr, new_cap
        self._remap()

    def _grow(self, additional: int, flags: GFP) -> None:
        """``reserve``: make room for ``additional`` more elements (never shrinks)."""
        n, cap = self._len, self._cap
        if cap - n >= additional:
            return
        required = n + additional
        new_cap = self._growth(cap, required, self._elem.size)
        if not isinstance(new_cap, int) or new_cap < required:
            raise ValueError(f"growth policy returned {new_cap!r}, less than {required}")
        self._realloc(new_cap, flags)

    # -- raw element access -----------------------------------------------------------

    def _read(self, off: int, n: int) -> bytes:
        flat = self._flat
        if flat is not None:
            return flat[off:off + n].tobytes()
        assert self._view is not None
        out = bytearray()
        a = self._view.offset + off
        pages = self._view.pages
        while n > 0:
            p, o = divmod(a, PAGE_SIZE)
            k = min(n, PAGE_SIZE - o)
            out += pages[p][o:o + k]
            a, n = a + k, n - k
        return bytes(out)

    def _write(self, off: int, data: bytes | memoryview) -> None:
        flat = self._flat
        if flat is not None:
            flat[off:off + len(data)] = data
            return
        assert self._view is not None
        src = memoryview(data)
        a = self._view.offset + off
        pages = self._view.pages
        pos, n = 0, len(src)
        while n > 0:
            p, o = divmod(a, PAGE_SIZE)
            k = min(n, PAGE_SIZE - o)
            pages[p][o:o + k] = src[pos:pos + k]
            a, pos, n = a + k, pos + k, n - k

    def _load(self, i: int, label: str = "load") -> T:
        if self._kasan is not None:
            self._kasan_ok(i, 1, False, label)
        mv = self._mv
        if mv is not None:
            v: T = mv[i]
            return v
        size = self._elem.size
        return self._elem.unpack(self._read(i * size, size))

    def _store(self, i: int, value: T, label: str = "store") -> None:
        """Validate and write one element (no reference bookkeeping)."""
        elem = self._elem
        elem.validate(value)
        if self._kasan is not None:
            self._kasan_ok(i, 1, True, label)
        mv = self._mv
        if mv is not None:
            mv[i] = value
        else:
            self._write(i * elem.size, elem.pack(value))

    def _store_many(self, start: int, items: list[T], label: str = "store",
                    incref: bool = True) -> None:
        """Write already validated ``items`` from index ``start``; increfs pyobj values
        unless they are already held (``incref=False``)."""
        if not items:
            return
        elem = self._elem
        if self._kasan is not None:
            self._kasan_ok(start, len(items), True, label)
        fmt = elem.fmt
        if fmt is not None and fmt in _ARRAY_CODES:
            data: bytes | memoryview = memoryview(array.array(fmt, cast(list[Any], items))).cast("B")
        else:
            data = b"".join(elem.pack(v) for v in items)
        self._write(start * elem.size, data)
        if incref and elem.holds_refs:
            for v in items:
                elem.incref(v)

    def _release(self, start: int, stop: int) -> None:
        """Drop the references held by elements ``[start, stop)`` (pyobj only)."""
        elem = self._elem
        if elem.holds_refs and stop > start:
            size = elem.size
            data = self._read(start * size, (stop - start) * size)
            for i in range(stop - start):
                elem.decref_raw(data[i * size:(i + 1) * size])

    def _memmove(self, dst: int, src: int, n: int) -> None:
        if n > 0 and dst != src:
            size = self._elem.size
            self._write(dst * size, self._read(src * size, n * size))

    # -- Rust-for-Linux methods -------------------------------------------------------

    def push(self, value: T, flags: GFP = _KERNEL) -> None:
        """Append ``value``, growing the buffer by the growth policy if it is full.

        Amortised O(1). AllocError (vector unchanged) if the growth fails.
        """
        n = self._len
        if n < self._room:
            k = self._kasan
            if k is None or k.generation == self._kgen:
                try:
                    self._mv[n] = value
                except ValueError:
                    self._elem.validate(value)
                    raise
                self._len = n + 1
                return
        self._push_slow(value, flags)

    def _push_slow(self, value: T, flags: GFP) -> None:
        self._alive()
        self._elem.validate(value)
        n = self._len
        if n == self._cap:
            self._grow(1, flags)
        self._store(n, value, "push")
        self._elem.incref(value)
        self._len = n + 1

    def push_within_capacity(self, value: T) -> None:
        """Append without allocating; :class:`PushError` (holding ``value``) when full."""
        self._alive()
        if self._len == self._cap:
            raise PushError(value)
        self._push_slow(value, _KERNEL)

    def insert_within_capacity(self, index: int, value: T) -> None:
        """Insert at ``index <= len`` without allocating; :class:`InsertError` otherwise."""
        self._alive()
        if not isinstance(index, int) or isinstance(index, bool):
            raise TypeError(f"index must be int, not {type(index).__name__}")
        n = self._len
        if not 0 <= index <= n:
            raise InsertError(value, "index_out_of_bounds")
        if n == self._cap:
            raise InsertError(value, "out_of_capacity")
        self._insert_at(index, value, _KERNEL)

    def _insert_at(self, index: int, value: T, flags: GFP) -> None:
        self._elem.validate(value)
        n = self._len
        if n == self._cap:
            self._grow(1, flags)
        if self._kasan is not None:
            self._kasan_ok(index, n + 1 - index, True, "insert")
        self._memmove(index + 1, index, n - index)
        self._store(index, value, "insert")
        self._elem.incref(value)
        self._len = n + 1

    def reserve(self, additional: int, flags: GFP = _KERNEL) -> None:
        """Ensure room for ``additional`` more elements; a no-op when there is enough."""
        self._alive()
        if not isinstance(additional, int) or isinstance(additional, bool):
            raise TypeError(f"additional must be int, not {type(additional).__name__}")
        if additional < 0:
            raise ValueError(f"additional must be >= 0, got {additional}")
        self._grow(additional, flags)

    def truncate(self, length: int) -> None:
        """Keep the first ``length`` elements (capacity unchanged); no-op if longer."""
        self._alive()
        if not isinstance(length, int) or isinstance(length, bool):
            raise TypeError(f"length must be int, not {type(length).__name__}")
        if length < 0:
            raise ValueError(f"length must be >= 0, got {length}")
        if length < self._len:
            self._release(length, self._len)
            self._len = length

    def clear(self) -> None:
        """Remove every element; the capacity is kept."""
        self.truncate(0)

    def resize(self, length: int, value: T, flags: GFP = _KERNEL) -> None:
        """Truncate to ``length``, or extend with copies of ``value`` up to it."""
        self._alive()
        if not isinstance(length, int) or isinstance(length, bool):
            raise TypeError(f"length must be int, not {type(length).__name__}")
        if length < 0:
            raise ValueError(f"length must be >= 0, got {length}")
        if length <= self._len:
            self.truncate(length)
            return
        self._elem.validate(value)
        self.extend_from_slice([value] * (length - self._len), flags)

    def extend_from_slice(self, items: Iterable[T], flags: GFP = _KERNEL) -> None:
        """Append every item, reserving once. O(n) plus at most one reallocation."""
        self._alive()
        seq = items if isinstance(items, list) else list(items)
        if not seq:
            return
        elem = self._elem
        fmt = elem.fmt
        if fmt is not None and fmt in _ARRAY_CODES and elem.raw_ok:
            try:
                packed = array.array(fmt, cast(list[Any], seq))   # validates types and ranges at C speed
            except (TypeError, OverflowError):
                for v in seq:
                    elem.validate(v)
                raise
            self._grow(len(seq), flags)
            n = self._len
            if self._kasan is not None:
                self._kasan_ok(n, len(seq), True, "extend_from_slice")
            mv = self._mv
            if isinstance(mv, memoryview):
                mv[n:n + len(seq)] = packed
            else:
                self._write(n * elem.size, memoryview(packed).cast("B"))
            self._len = n + len(seq)
            return
        for v in seq:
            elem.validate(v)
        self._grow(len(seq), flags)
        self._store_many(self._len, seq, "extend_from_slice")
        self._len += len(seq)

    def retain(self, pred: Any) -> None:
        """Keep only the elements for which ``pred(element)`` is true, in order."""
        self._alive()
        items = self.to_list()
        keep = [v for v in items if pred(v)]
        if len(keep) != len(items):
            self._replace_all(keep)

    def drain_all(self) -> Iterator[T]:
        """Remove and return every element (the capacity is kept)."""
        items = self.to_list()
        self._release(0, self._len)
        self._len = 0
        return iter(items)

    def shrink_to(self, min_capacity: int, flags: GFP = _KERNEL) -> None:
        """Reallocate to ``max(len, min_capacity)`` elements if that is below the capacity."""
        self._alive()
        if not isinstance(min_capacity, int) or isinstance(min_capacity, bool):
            raise TypeError(f"min_capacity must be int, not {type(min_capacity).__name__}")
        if min_capacity < 0:
            raise ValueError(f"min_capacity must be >= 0, got {min_capacity}")
        target = max(self._len, min_capacity)
        if target < self._cap:
            self._realloc(target, flags)
            if target == 0:
                self._ptr = Layout(0, self._elem.align).dangling()

    def shrink_to_fit(self, flags: GFP = _KERNEL) -> None:
        """``shrink_to(0)``: reallocate to exactly ``len`` elements."""
        self.shrink_to(0, flags)

    def into_raw_parts(self) -> tuple[int, int, int]:
        """Give the buffer away as ``(ptr, length, capacity)``; this vector is then unusable."""
        self._alive()
        self._state = 2
        self._view = self._mv = self._flat = None
        self._room = -1                       # the fast paths must see the vector is gone
        return self._ptr, self._len, self._cap

    def as_bytes(self) -> bytes:
        """The raw bytes of elements ``[0, len)``."""
        self._alive()
        if not self._len:
            return b""
        size = self._elem.size
        if self._kasan is not None:
            self._kasan_ok(0, self._len, False, "as_bytes")
        return self._read(0, self._len * size)

    def to_list(self) -> list[T]:
        """The elements as a Python list."""
        self._alive()
        n = self._len
        if not n:
            return []
        if self._kasan is not None:
            self._kasan_ok(0, n, False, "to_list")
        mv = self._mv
        if isinstance(mv, memoryview):
            return cast(list[T], mv[:n].tolist())
        if mv is not None:
            return [mv[i] for i in range(n)]
        elem, size = self._elem, self._elem.size
        data = self._read(0, n * size)
        return [elem.unpack(data[i * size:(i + 1) * size]) for i in range(n)]

    @property
    def capacity(self) -> int:
        """Elements the buffer holds without reallocating."""
        return self._cap

    @property
    def ptr(self) -> int:
        """The buffer's address (dangling, equal to the alignment, when capacity is 0)."""
        return self._ptr

    @property
    def stats(self) -> VecStats:
        """Reallocations so far, how many stayed in place or moved, and bytes copied."""
        return VecStats(*self._stats)

    def drop(self) -> None:
        """Free the buffer now (and release pyobj references); later use raises ValueError."""
        if self._state:
            return
        self._release(0, self._len)
        self._len = 0
        if self._cap:
            self._alloc.free(self._ptr, self._layout(self._cap))
            self._cap = 0
        self._view = self._mv = self._flat = None
        self._room = -1
        self._state = 1

    # -- MutableSequence --------------------------------------------------------------

    def __len__(self) -> int:
        if self._state:
            self._alive()
        return self._len

    def _index(self, index: int) -> int:
        n = self._len
        if index < 0:
            index += n
        if not 0 <= index < n:
            raise IndexError(f"{type(self).__name__} index out of range")
        return index

    @overload
    def __getitem__(self, index: int) -> T: ...
    @overload
    def __getitem__(self, index: slice) -> Self: ...

    def __getitem__(self, index: int | slice) -> T | Self:
        if isinstance(index, slice):
            self._alive()
            start, stop, step = index.indices(self._len)
            if step < 1:
                raise ValueError("slices of a vector need a step of 1 or more")
            items = self.to_list()[start:stop:step]
            return self._like(items)
        if not isinstance(index, int):
            raise TypeError(f"indices must be int or slice, not {type(index).__name__}")
        self._alive()
        return self._load(self._index(index), "__getitem__")

    @overload
    def __setitem__(self, index: int, value: T) -> None: ...
    @overload
    def __setitem__(self, index: slice, value: Iterable[T]) -> None: ...

    def __setitem__(self, index: int | slice, value: Any) -> None:
        self._alive()
        if isinstance(index, slice):
            items = self.to_list()
            new = list(value)
            for v in new:
                self._elem.validate(v)
            items[index] = new            # list semantics, including extended slices
            self._replace_all(items)
            return
        if not isinstance(index, int):
            raise TypeError(f"indices must be int or slice, not {type(index).__name__}")
        i = self._index(index)
        elem = self._elem
        elem.validate(value)
        if elem.holds_refs:
            elem.incref(value)
            self._release(i, i + 1)
        self._store(i, value, "__setitem__")

    def _replace_all(self, items: list[T]) -> None:
        """Make the contents ``items`` (validated), growing if needed; atomic on AllocError."""
        if len(items) > self._cap:
            self._grow(len(items) - self._len, self._flags)
        elem = self._elem
        if elem.holds_refs:
            for v in items:             # hold the new references before dropping the old
                elem.incref(v)
        self._release(0, self._len)
        self._len = 0
        self._store_many(0, items, incref=False)
        self._len = len(items)

    def __delitem__(self, index: int | slice) -> None:
        self._alive()
        if isinstance(index, slice):
            items = self.to_list()
            del items[index]
            self._replace_all(items)
            return
        i = self._index(index)
        self._release(i, i + 1)
        self._memmove(i, i + 1, self._len - i - 1)
        self._len -= 1

    def insert(self, index: int, value: T) -> None:
        """``list.insert`` semantics (the index is clamped); grows if full."""
        self._alive()
        n = self._len
        if index < 0:
            index = max(0, index + n)
        self._insert_at(min(index, n), value, self._flags)

    def append(self, value: T) -> None:
        """``push`` with the vector's flags."""
        self.push(value, self._flags)

    def extend(self, values: Iterable[T]) -> None:
        """``extend_from_slice`` with the vector's flags."""
        if values is self:
            values = self.to_list()
        self.extend_from_slice(values, self._flags)

    def pop(self, index: int = -1) -> T:
        """Remove and return the element at ``index`` (the last by default)."""
        self._alive()
        i = self._index(index)
        value = self._load(i, "pop")
        self._release(i, i + 1)
        self._memmove(i, i + 1, self._len - i - 1)
        self._len -= 1
        return value

    def reverse(self) -> None:
        """Reverse in place."""
        self._alive()
        items = self.to_list()
        items.reverse()
        self._store_many(0, items, "reverse", incref=False)    # the same references

    def __iadd__(self, values: Iterable[T]) -> Self:
        self.extend(values)
        return self

    def __iter__(self) -> Iterator[T]:
        """Iterate over a snapshot of the elements (one bulk read)."""
        return iter(self.to_list())

    def __contains__(self, value: object) -> bool:
        return value in self.to_list()

    def index(self, value: Any, start: int = 0, stop: int | None = None) -> int:
        """``list.index`` semantics. O(n)."""
        items = self.to_list()
        return items.index(value, start, len(items) if stop is None else stop)

    def count(self, value: Any) -> int:
        """``list.count`` semantics. O(n)."""
        return self.to_list().count(value)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Vec):
            return self.to_list() == other.to_list()
        if isinstance(other, (list, tuple)):
            return self.to_list() == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return self._repr(self._elem.name, None if self._state else self.to_list())


class KVec(Vec[T, Kmalloc]):
    """``KVec<T>``: a vector whose buffer comes from ``krealloc`` (physically contiguous)."""

    __slots__ = ()
    _alias = "KVec"

    def __init__(self, elem: Elem[T], iterable: Iterable[T] = (), *, kernel: Kernel | None = None,
                 flags: GFP = _KERNEL, growth: GrowthPolicy = RUST_KVEC) -> None:
        super().__init__(elem, iterable, alloc=Kmalloc(kernel), flags=flags, growth=growth)

    @classmethod
    def with_capacity(cls, elem: Elem[U], capacity: int, *,  # type: ignore[override]
                      kernel: Kernel | None = None, flags: GFP = _KERNEL) -> KVec[U]:
        """An empty ``KVec`` with room for exactly ``capacity`` elements."""
        v = KVec(elem, kernel=kernel, flags=flags)
        v.reserve(capacity, flags)
        return v

    @classmethod
    def from_raw_parts(cls, elem: Elem[U], ptr: int, length: int,  # type: ignore[override]
                       capacity: int, *, kernel: Kernel | None = None) -> KVec[U]:
        """Take ownership of a ``KVec`` buffer given away by ``into_raw_parts``."""
        v = KVec(elem, kernel=kernel)
        v._adopt(ptr, length, capacity)
        return v


class VVec(Vec[T, Vmalloc]):
    """``VVec<T>``: a vector whose buffer comes from ``vrealloc`` (virtually contiguous)."""

    __slots__ = ()
    _alias = "VVec"

    def __init__(self, elem: Elem[T], iterable: Iterable[T] = (), *, kernel: Kernel | None = None,
                 flags: GFP = _KERNEL, growth: GrowthPolicy = RUST_KVEC) -> None:
        super().__init__(elem, iterable, alloc=Vmalloc(kernel), flags=flags, growth=growth)

    @classmethod
    def with_capacity(cls, elem: Elem[U], capacity: int, *,  # type: ignore[override]
                      kernel: Kernel | None = None, flags: GFP = _KERNEL) -> VVec[U]:
        """An empty ``VVec`` with room for exactly ``capacity`` elements."""
        v = VVec(elem, kernel=kernel, flags=flags)
        v.reserve(capacity, flags)
        return v

    @classmethod
    def from_raw_parts(cls, elem: Elem[U], ptr: int, length: int,  # type: ignore[override]
                       capacity: int, *, kernel: Kernel | None = None) -> VVec[U]:
        """Take ownership of a ``VVec`` buffer given away by ``into_raw_parts``."""
        v = VVec(elem, kernel=kernel)
        v._adopt(ptr, length, capacity)
        return v


class KVVec(Vec[T, KVmalloc]):
    """``KVVec<T>``: a vector whose buffer comes from ``kvrealloc`` (kmalloc, else vmalloc)."""

    __slots__ = ()
    _alias = "KVVec"

    def __init__(self, elem: Elem[T], iterable: Iterable[T] = (), *, kernel: Kernel | None = None,
                 flags: GFP = _KERNEL, growth: GrowthPolicy = RUST_KVEC) -> None:
        super().__init__(elem, iterable, alloc=KVmalloc(kernel), flags=flags, growth=growth)

    @classmethod
    def with_capacity(cls, elem: Elem[U], capacity: int, *,  # type: ignore[override]
                      kernel: Kernel | None = None, flags: GFP = _KERNEL) -> KVVec[U]:
        """An empty ``KVVec`` with room for exactly ``capacity`` elements."""
        v = KVVec(elem, kernel=kernel, flags=flags)
        v.reserve(capacity, flags)
        return v

    @classmethod
    def from_raw_parts(cls, elem: Elem[U], ptr: int, length: int,  # type: ignore[override]
                       capacity: int, *, kernel: Kernel | None = None) -> KVVec[U]:
        """Take ownership of a ``KVVec`` buffer given away by ``into_raw_parts``."""
        v = KVVec(elem, kernel=kernel)
        v._adopt(ptr, length, capacity)
        return v
