"""``Vec[T, A]`` and its aliases ``KVec``, ``VVec``, ``KVVec`` (rust/kernel/alloc/kvec.rs).

The elements live in simulated kernel memory at :attr:`Vec.ptr`, in a buffer
(:class:`~containers._rawvec.RawVec`) that grows and shrinks only through
``alloc.realloc`` (so through krealloc / vrealloc / kvrealloc), never by copying itself.
A vector is also a Python ``MutableSequence``.

Invariants (checked one for one by :meth:`Vec._check`, after the buffer's own R1-R4):
    - V1: ``0 <= len <= capacity``;
    - V2: the state is alive, dropped or given away; a dropped vector owns nothing
      (length and capacity 0), a vector given away has no views left;
    - V3: elements ``[0, len)`` are initialised: each decodes as the element type, and for
      ``pyobj`` each refers to an object the vector keeps alive;
    - V4: with KASAN on, the whole buffer is accessible (no poisoned byte below capacity);
    - a failed allocation leaves length, capacity, pointer and contents exactly as they were.

Growth: ``new capacity = max(2 * cap, len + additional)`` (``RUST_KVEC``), no minimum.
Copies (``copy.copy``, ``copy.deepcopy``, :meth:`Vec.clone`) are new allocations from the
same allocator; pickling rebuilds the vector on the unpickling process's default kernel.

Example (the method examples below assume ``from containers import *`` and
``from kvalloc import Kernel``):

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
import copy
import pickle
from collections.abc import Callable, Iterable, Iterator, MutableSequence
from typing import TYPE_CHECKING, Any, ClassVar, cast, overload

from typing_extensions import Self

from kvalloc._validate import require_int
from kvalloc.alloc import Kmalloc, KVmalloc, Vmalloc
from kvalloc.errors import KernelBug
from kvalloc.gfp import GFP

from ._owner import ALIVE, DROPPED, GIVEN_AWAY, Owner
from ._rawvec import _ARRAY_CODES, RawVec, VecStats, _cast
from ._typing import A, B, T, U
from .elem import Elem
from .errors import InsertError, PushError
from .growth import RUST_KVEC, GrowthPolicy

if TYPE_CHECKING:
    from kvalloc.kernel import Kernel

_KERNEL = GFP.KERNEL


def _gfp(flags: object) -> GFP:
    """``flags`` as GFP: an int in ``[0, 2**32)``, else TypeError / ValueError."""
    if flags is _KERNEL:
        return _KERNEL
    return GFP(require_int("flags", flags, 0, 1 << 32))


def _same_format(items: object, fmt: str | None) -> Any:
    """``items`` if it is a flat buffer of ``fmt`` values (an ``array`` of that typecode, a
    1-D contiguous ``memoryview`` of that format, ``bytes``/``bytearray`` for ``B``), else
    None. Such a buffer needs no per-item check: each item is a valid ``fmt`` value."""
    if isinstance(items, array.array):
        return items if items.typecode == fmt else None
    if isinstance(items, memoryview):
        if items.format != fmt or items.ndim != 1 or not items.c_contiguous:
            return None
        return _cast(memoryview(items.tobytes()), fmt)     # a snapshot: the source may move
    if isinstance(items, (bytes, bytearray)) and fmt == "B":
        return items
    return None


def _rebuild(cls: type[Vec[Any, Any]], elem: Elem[Any], alloc: Any, growth: GrowthPolicy,
             flags: GFP, items: list[Any]) -> Vec[Any, Any]:
    """Unpickle: a fresh vector of ``cls`` holding ``items``."""
    v = object.__new__(cls)
    Vec.__init__(v, elem, items, alloc=alloc, flags=flags, growth=growth)
    return v


class Vec(RawVec[T, A], Owner[T, A], MutableSequence[T]):
    """A growable array of ``Elem[T]`` values in simulated kernel memory, allocated by ``A``.

    Complexity: indexing O(1); push amortised O(1); insert / delete O(len) (a memmove in
    simulated memory); slice reads and writes O(len); growth costs what the kernel's realloc
    costs (in place or a copy).

    >>> from kvalloc import Vmalloc
    >>> v = Vec(u8, [1, 2], alloc=Vmalloc(Kernel()))
    >>> v.push(3); v, v.capacity
    (Vec(u8, [1, 2, 3]), 4)
    """

    __slots__ = ("_len", "_flags", "_state", "__weakref__")

    _alias = "Vec"

    def __init__(self, elem: Elem[T], iterable: Iterable[T] = (), *, alloc: A,
                 flags: GFP = _KERNEL, growth: GrowthPolicy = RUST_KVEC) -> None:
        self._len = 0
        self._state = DROPPED                  # owns nothing until the buffer exists
        self._init_buffer(elem, alloc, growth)
        self._flags = _gfp(flags)
        self._state = ALIVE
        self._init_items(list(iterable), self._flags)

    def _init_items(self, items: list[T], flags: GFP) -> None:
        """Fill an empty vector with ``items``, in a buffer of exactly ``len(items)``."""
        if items:
            for v in items:
                self._elem.validate(v)
            self._realloc(len(items), flags)
            self._store_many(0, items)
            self._len = len(items)

    # -- constructors ---------------------------------------------------------------

    @classmethod
    def with_capacity(cls, elem: Elem[U], capacity: int, *, alloc: B,
                      flags: GFP = _KERNEL) -> Vec[U, B]:
        """An empty vector with room for exactly ``capacity`` elements. O(1) plus the allocation.

        >>> from kvalloc import Kmalloc
        >>> v = Vec.with_capacity(u64, 10, alloc=Kmalloc(Kernel()))
        >>> len(v), v.capacity
        (0, 10)
        """
        v: Vec[U, B] = Vec(elem, alloc=alloc, flags=flags)
        v.reserve(capacity, flags)
        return v

    @classmethod
    def from_raw_parts(cls, elem: Elem[U], ptr: int, length: int, capacity: int, *,
                       alloc: B) -> Vec[U, B]:
        """Take ownership of a buffer given away by :meth:`into_raw_parts`. O(pages).

        Safety: ``ptr`` must come from ``into_raw_parts`` of a vector of the same element
        type and an equal allocator, not yet taken back; ``length <= capacity``, and the
        first ``length`` elements must be initialised. Taking the same parts twice makes
        two owners of one allocation, which the kernel reports as a double free.

        >>> from kvalloc import Kmalloc
        >>> a = Kmalloc(Kernel())
        >>> parts = Vec(u32, [7, 8], alloc=a).into_raw_parts()
        >>> Vec.from_raw_parts(u32, *parts, alloc=a)
        Vec(u32, [7, 8])
        """
        v: Vec[U, B] = Vec(elem, alloc=alloc)
        v._adopt(ptr, length, capacity)
        return v

    def _adopt(self, ptr: int, length: int, capacity: int) -> None:
        require_int("ptr", ptr, 0)
        require_int("length", length)
        require_int("capacity", capacity)
        if not 0 <= length <= capacity:
            raise ValueError(f"need 0 <= length <= capacity, got {length} and {capacity}")
        if capacity == 0:
            ptr = self._ptr
        self._set_buffer(ptr, capacity)
        self._len = length

    def _like(self, items: list[T], flags: GFP | None = None) -> Self:
        """A new vector of the same class, element type, allocator and policy holding ``items``."""
        new = object.__new__(type(self))
        Vec.__init__(new, self._elem, items, alloc=self._alloc,
                     flags=self._flags if flags is None else flags, growth=self._growth)
        return new

    # -- Rust-for-Linux methods -------------------------------------------------------

    def push(self, value: T, flags: GFP = _KERNEL) -> None:
        """Append ``value``, growing the buffer by the growth policy if it is full.

        Amortised O(1). AllocError (vector unchanged) if the growth fails.

        >>> v = KVec(u8, [1])
        >>> v.push(2); v
        KVec(u8, [1, 2])
        """
        n = self._len
        if n < self._room and type(value) is self._ftype and (
                flags is _KERNEL or flags is self._flags):
            k = self._kasan
            if k is None or k.generation == self._kgen:
                try:
                    self._tmv[n - self._tbase] = value
                except ValueError:
                    self._elem.validate(value)
                    raise
                self._len = n + 1
                return
        self._push_slow(value, flags)

    def _push_slow(self, value: T, flags: GFP) -> None:
        self._alive()
        flags = _gfp(flags)
        elem = self._elem
        elem.validate(value)
        n = self._len
        if n == self._cap:
            self._grow_amortized(n, 1, flags)
        self._store(n, value, "push", validated=True)
        elem.incref(value)
        self._len = n + 1
        if not self._tbase <= n + 1 < self._tend:
            self._retarget(n + 1)           # a paged buffer: the next run takes the pushes

    def push_within_capacity(self, value: T) -> None:
        """Append without allocating; :class:`PushError` (holding ``value``) when full. O(1).

        >>> v = KVec.with_capacity(u8, 1)
        >>> v.push_within_capacity(5)
        >>> try:
        ...     v.push_within_capacity(6)
        ... except PushError as e:
        ...     print(e, e.value)
        no spare capacity 6
        """
        self._alive()
        if self._len == self._cap:
            raise PushError(value)
        self._push_slow(value, _KERNEL)

    def insert_within_capacity(self, index: int, value: T) -> None:
        """Insert at ``index <= len`` without allocating; :class:`InsertError` otherwise. O(len).

        >>> v = KVec.with_capacity(u8, 3); v.extend([1, 3])
        >>> v.insert_within_capacity(1, 2); v
        KVec(u8, [1, 2, 3])
        """
        self._alive()
        require_int("index", index)
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
            self._grow_amortized(n, 1, flags)
        if self._kasan is not None:
            self._kasan_ok(index, n + 1 - index, True, "insert")
        self._memmove(index + 1, index, n - index)
        self._store(index, value, "insert")
        self._elem.incref(value)
        self._len = n + 1

    def reserve(self, additional: int, flags: GFP = _KERNEL) -> None:
        """Ensure room for ``additional`` more elements; a no-op when there is enough.

        O(1) plus at most one reallocation. AllocError (vector unchanged) if it fails,
        a capacity that overflows the address space included.

        >>> v = KVec(u64, [1, 2, 3])
        >>> v.reserve(10); v.capacity
        13
        """
        self._alive()
        require_int("additional", additional, 0)
        self._grow_amortized(self._len, additional, _gfp(flags))

    def truncate(self, length: int) -> None:
        """Keep the first ``length`` elements (capacity unchanged); no-op if longer. O(removed).

        >>> v = KVec(u8, [1, 2, 3]); v.truncate(1); v, v.capacity
        (KVec(u8, [1]), 3)
        """
        self._alive()
        require_int("length", length, 0)
        if length < self._len:
            self._release(length, self._len)
            self._len = length

    def clear(self) -> None:
        """Remove every element; the capacity is kept. O(len) for ``pyobj``, else O(1).

        >>> v = KVec(u8, [1, 2]); v.clear(); len(v), v.capacity
        (0, 2)
        """
        self.truncate(0)

    def resize(self, length: int, value: T, flags: GFP = _KERNEL) -> None:
        """Truncate to ``length``, or extend with copies of ``value`` up to it.

        O(length) writes in bounded steps, after one reservation: the allocation is asked
        for before any host memory is spent, so a refused size raises AllocError at once.

        >>> v = KVec(u8, [1]); v.resize(4, 9); v
        KVec(u8, [1, 9, 9, 9])
        """
        self._alive()
        require_int("length", length, 0)
        flags = _gfp(flags)
        n = self._len
        if length <= n:
            self.truncate(length)
            return
        self._elem.validate(value)
        self._grow_amortized(n, length - n, flags)
        self._fill(n, length - n, value, "resize")
        self._len = length

    def extend_from_slice(self, items: Iterable[T], flags: GFP = _KERNEL) -> None:
        """Append every item, reserving once. O(n) plus at most one reallocation.

        Every item is validated before anything is allocated or written. An ``array``,
        ``memoryview`` (or, for ``u8``, ``bytes``/``bytearray``) of the element's own format
        is copied as it is, at the speed of a ``memoryview`` slice copy.

        >>> v = KVec(u16, [1]); v.extend_from_slice(range(2, 5)); v
        KVec(u16, [1, 2, 3, 4])
        >>> import array; v.extend_from_slice(array.array("H", [7, 8])); v[-2:]
        KVec(u16, [7, 8])
        """
        self._alive()
        flags = _gfp(flags)
        elem = self._elem
        fmt = elem.fmt
        raw = fmt is not None and fmt in _ARRAY_CODES and elem.raw_ok
        packed: Any = _same_format(items, fmt) if raw else None
        if packed is None:
            seq = items if isinstance(items, list) else list(items)
            if not seq:
                return
            if raw:
                try:
                    packed = array.array(cast(str, fmt), cast(list[Any], seq))   # C-speed checks
                except (TypeError, OverflowError):
                    for v in seq:
                        elem.validate(v)
                    raise
        if packed is not None:
            count = len(packed)
            if not count:
                return
            n = self._len
            self._grow_amortized(n, count, flags)
            if self._kasan is not None:
                self._kasan_ok(n, count, True, "extend_from_slice")
            mv = self._mv
            if isinstance(mv, memoryview):
                mv[n:n + count] = packed
            else:
                self._write(n * elem.size, memoryview(packed).cast("B"))
            self._len = n + count
            return
        for v in seq:
            elem.validate(v)
        self._grow_amortized(self._len, len(seq), flags)
        self._store_many(self._len, seq, "extend_from_slice")
        self._len += len(seq)

    def retain(self, pred: Callable[[T], object]) -> None:
        """Keep only the elements for which ``pred(element)`` is true, in order. O(len).

        >>> v = KVec(u8, range(6)); v.retain(lambda x: x % 2 == 0); v
        KVec(u8, [0, 2, 4])
        """
        self._alive()
        items = self.to_list()
        keep = [v for v in items if pred(v)]
        if len(keep) != len(items):
            self._replace_all(keep)

    def drain_all(self) -> Iterator[T]:
        """Remove and return every element (the capacity is kept). O(len).

        >>> v = KVec(u8, [1, 2]); list(v.drain_all()), len(v), v.capacity
        ([1, 2], 0, 2)
        """
        items = self.to_list()
        self._release(0, self._len)
        self._len = 0
        return iter(items)

    def shrink_to(self, min_capacity: int, flags: GFP = _KERNEL) -> None:
        """Reallocate to ``max(len, min_capacity)`` elements if that is below the capacity.

        O(1) plus at most one reallocation (which vrealloc may do in place).

        >>> v = KVec.with_capacity(u8, 100); v.push(1); v.shrink_to(10); v.capacity
        10
        """
        self._alive()
        require_int("min_capacity", min_capacity, 0)
        flags = _gfp(flags)
        target = max(self._len, min_capacity)
        if target < self._cap:
            self._realloc(target, flags)

    def shrink_to_fit(self, flags: GFP = _KERNEL) -> None:
        """``shrink_to(0)``: reallocate to exactly ``len`` elements.

        >>> v = KVec.with_capacity(u8, 100); v.push(1); v.shrink_to_fit(); v.capacity
        1
        """
        self.shrink_to(0, flags)

    def into_raw_parts(self) -> tuple[int, int, int]:
        """Give the buffer away as ``(ptr, length, capacity)``; this vector is then unusable. O(1).

        >>> v = KVec(u8, [1, 2]); ptr, n, cap = v.into_raw_parts(); (n, cap), v
        ((2, 2), KVec(u8, <raw>))
        >>> KVec.from_raw_parts(u8, ptr, n, cap)
        KVec(u8, [1, 2])
        """
        self._alive()
        self._state = GIVEN_AWAY
        parts = self._ptr, self._len, self._cap
        self._unmap()                          # the fast paths must see the vector is gone
        return parts

    def as_bytes(self) -> bytes:
        """The raw bytes of elements ``[0, len)``. O(len).

        >>> KVec(u16, [1, 258]).as_bytes()
        b'\\x01\\x00\\x02\\x01'
        """
        self._alive()
        if not self._len:
            return b""
        if self._kasan is not None:
            self._kasan_ok(0, self._len, False, "as_bytes")
        return self._read(0, self._len * self._elem.size)

    def to_list(self) -> list[T]:
        """The elements as a Python list. O(len), one bulk read.

        >>> KVec(f64, [0.5, 2]).to_list()
        [0.5, 2.0]
        """
        self._alive()
        return self._load_many(self._len, "to_list")

    def clone(self, flags: GFP | None = None) -> Self:
        """A new vector of the same class, element type, allocator and growth policy, with
        the same elements in a fresh allocation of exactly ``len`` elements (Rust's
        ``Clone``). ``pyobj`` elements are the same objects (a shallow copy); ``copy.copy``
        is this, ``copy.deepcopy`` copies the objects too. O(len) plus the allocation.

        >>> v = KVec(u8, [1, 2]); w = v.clone(); w.push(3)
        >>> v, w, v.ptr != w.ptr
        (KVec(u8, [1, 2]), KVec(u8, [1, 2, 3]), True)
        """
        self._alive()
        return self._like(self.to_list(), None if flags is None else _gfp(flags))

    def __copy__(self) -> Self:
        return self.clone()

    def __deepcopy__(self, memo: dict[int, Any]) -> Self:
        self._alive()
        new = self._like([])
        memo[id(self)] = new                    # a pyobj vector may hold itself
        new._init_items(copy.deepcopy(self.to_list(), memo), self._flags)
        return new

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle as element type, allocator kind, growth policy, flags and values; the
        vector is rebuilt on the default kernel of the process that unpickles it."""
        self._alive()
        for what, part in (("element type", self._elem), ("allocator", self._alloc),
                           ("growth policy", self._growth)):
            try:
                pickle.dumps(part)
            except Exception as e:
                raise TypeError(f"cannot pickle {self._alias}: its {what} {part!r} cannot be "
                                f"pickled ({e})") from None
        return _rebuild, (type(self), self._elem, self._alloc, self._growth, self._flags,
                          self.to_list())

    @property
    def capacity(self) -> int:
        """Elements the buffer holds without reallocating. O(1)."""
        return self._cap

    @property
    def ptr(self) -> int:
        """The buffer's address (dangling, equal to the alignment, when capacity is 0). O(1).

        >>> KVec(u64).ptr
        8
        """
        return self._ptr

    @property
    def stats(self) -> VecStats:
        """Reallocations so far, how many stayed in place or moved, and bytes copied. O(1).

        >>> v = VVec(u8)
        >>> for i in range(5000):
        ...     v.push(i % 256)
        >>> v.stats.reallocs, v.stats.moved > 0
        (14, True)
        """
        st = self._stats
        return VecStats(st.reallocs, st.in_place, st.moved, st.bytes_copied)

    def drop(self) -> None:
        """Free the buffer now (and release pyobj references); later use raises ValueError.

        A no-op when already dropped or given away. O(len) for ``pyobj``, else O(1).

        >>> v = KVec(u8, [1]); v.drop(); v
        KVec(u8, <dropped>)
        """
        if self._state != ALIVE:
            return
        self._release(0, self._len)
        self._len = 0
        self._free_buffer()
        self._state = DROPPED

    # -- invariants -------------------------------------------------------------------

    def _check(self) -> None:
        """Raise KernelBug naming the first broken invariant (R1-R4, then V1-V4). O(len).

        >>> v = KVec(u8, [1, 2]); v._check()
        >>> v._len = 3; v._check()
        Traceback (most recent call last):
        ...
        kvalloc.errors.KernelBug: KVec V1: need 0 <= len <= capacity, got len 3, capacity 2
        """
        name, state, n, cap = self._alias, self._state, self._len, self._cap
        if state not in (ALIVE, DROPPED, GIVEN_AWAY):
            raise KernelBug(f"{name} V2: unknown state {state!r}")
        if state == GIVEN_AWAY:
            if self._view is not None or self._room != -1:
                raise KernelBug(f"{name} V2: given away but still holds views")
            return
        self._check_buffer()
        if type(n) is not int or not 0 <= n <= cap:
            raise KernelBug(f"{name} V1: need 0 <= len <= capacity, got len {n!r}, capacity {cap}")
        if self._room > 0 and n < self._tbase:
            raise KernelBug(f"{name} V1: len {n} is below the push run from slot {self._tbase} "
                            f"but the fast room is {self._room}")
        if state == DROPPED:
            if n or cap:
                raise KernelBug(f"{name} V2: dropped but len {n}, capacity {cap}")
            return
        elem, size = self._elem, self._elem.size
        view = self._view
        if view is not None and view.checked and view.room() < cap * size:
            raise KernelBug(f"{name} V4: only {view.room()} of {cap * size} buffer bytes "
                            "are accessible to KASAN")
        data = self._read(0, n * size)
        for i in range(n):
            try:
                elem.unpack(data[i * size:(i + 1) * size])
            except Exception as e:
                raise KernelBug(f"{name} V3: element {i} does not decode as {elem.name}: {e}") from None

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
            return self._like(self._load_many(stop - start, "__getitem__", start, step))
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
            self._grow_amortized(self._len, len(items) - self._len, self._flags)
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
        """``list.insert`` semantics (the index is clamped); grows if full. O(len).

        >>> v = KVec(u8, [1, 3]); v.insert(1, 2); v.insert(-99, 0); v
        KVec(u8, [0, 1, 2, 3])
        """
        self._alive()
        n = self._len
        if index < 0:
            index = max(0, index + n)
        self._insert_at(min(index, n), value, self._flags)

    def append(self, value: T) -> None:
        """``push`` with the vector's flags. Amortised O(1).

        >>> v = KVec(u8); v.append(1); v
        KVec(u8, [1])
        """
        self.push(value, self._flags)

    def extend(self, values: Iterable[T]) -> None:
        """``extend_from_slice`` with the vector's flags. O(n).

        >>> v = KVec(u8, [1]); v.extend(v); v
        KVec(u8, [1, 1])
        """
        if values is self:
            values = self.to_list()
        self.extend_from_slice(values, self._flags)

    def pop(self, index: int = -1) -> T:
        """Remove and return the element at ``index`` (the last by default). O(len - index).

        >>> v = KVec(u8, [1, 2, 3]); v.pop(), v.pop(0), v
        (3, 1, KVec(u8, [2]))
        """
        self._alive()
        i = self._index(index)
        value = self._load(i, "pop")
        self._release(i, i + 1)
        self._memmove(i, i + 1, self._len - i - 1)
        self._len -= 1
        return value

    def reverse(self) -> None:
        """Reverse in place. O(len).

        >>> v = KVec(u8, [1, 2, 3]); v.reverse(); v
        KVec(u8, [3, 2, 1])
        """
        self._alive()
        items = self.to_list()
        items.reverse()
        self._store_many(0, items, "reverse", incref=False)    # the same references

    def __iadd__(self, values: Iterable[T]) -> Self:
        self.extend(values)
        return self

    def __iter__(self) -> Iterator[T]:
        """Iterate over a snapshot of the elements (one bulk read). O(len)."""
        self._alive()
        return self._iter_many(self._len, "__iter__")

    def __contains__(self, value: object) -> bool:
        return value in self.to_list()

    def index(self, value: Any, start: int = 0, stop: int | None = None) -> int:
        """``list.index`` semantics. O(len).

        >>> KVec(u8, [5, 6, 5]).index(5, 1)
        2
        """
        items = self.to_list()
        return items.index(value, start, len(items) if stop is None else stop)

    def count(self, value: Any) -> int:
        """``list.count`` semantics. O(len).

        >>> KVec(u8, [5, 6, 5]).count(5)
        2
        """
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


class _KernelVec(Vec[T, A]):
    """The constructors ``KVec``, ``VVec`` and ``KVVec`` share: the allocator is the class's
    :attr:`_ALLOC` on ``kernel`` (the default kernel when None)."""

    __slots__ = ()
    _ALLOC: ClassVar[type[Kmalloc] | type[Vmalloc] | type[KVmalloc]]

    def __init__(self, elem: Elem[T], iterable: Iterable[T] = (), *, kernel: Kernel | None = None,
                 flags: GFP = _KERNEL, growth: GrowthPolicy = RUST_KVEC) -> None:
        alloc = cast(A, self._ALLOC(kernel))
        Vec.__init__(self, elem, iterable, alloc=alloc, flags=flags, growth=growth)

    @classmethod
    def _with_capacity(cls, elem: Elem[Any], capacity: int, kernel: Kernel | None,
                       flags: GFP) -> Any:
        v = cls(elem, kernel=kernel, flags=flags)
        v.reserve(capacity, flags)
        return v

    @classmethod
    def _from_raw_parts(cls, elem: Elem[Any], ptr: int, length: int, capacity: int,
                        kernel: Kernel | None) -> Any:
        v = cls(elem, kernel=kernel)
        v._adopt(ptr, length, capacity)
        return v


class KVec(_KernelVec[T, Kmalloc]):
    """``KVec<T>``: a vector whose buffer comes from ``krealloc`` (physically contiguous).

    At most ``KMALLOC_MAX_SIZE`` bytes; growth past it raises AllocError.

    >>> KVec(u32, [1, 2], kernel=Kernel())
    KVec(u32, [1, 2])
    """

    __slots__ = ()
    _alias = "KVec"
    _ALLOC = Kmalloc

    @classmethod
    def with_capacity(cls, elem: Elem[U], capacity: int, *,  # type: ignore[override]
                      kernel: Kernel | None = None, flags: GFP = _KERNEL) -> KVec[U]:
        """An empty ``KVec`` with room for exactly ``capacity`` elements."""
        return cast("KVec[U]", cls._with_capacity(elem, capacity, kernel, flags))

    @classmethod
    def from_raw_parts(cls, elem: Elem[U], ptr: int, length: int,  # type: ignore[override]
                       capacity: int, *, kernel: Kernel | None = None) -> KVec[U]:
        """Take ownership of a ``KVec`` buffer given away by ``into_raw_parts``.

        Safety: as :meth:`Vec.from_raw_parts`; the buffer must come from a ``KVec`` on the
        same kernel.
        """
        return cast("KVec[U]", cls._from_raw_parts(elem, ptr, length, capacity, kernel))


class VVec(_KernelVec[T, Vmalloc]):
    """``VVec<T>``: a vector whose buffer comes from ``vrealloc`` (virtually contiguous).

    >>> v = VVec(u64, range(1000), kernel=Kernel()); v.capacity
    1000
    """

    __slots__ = ()
    _alias = "VVec"
    _ALLOC = Vmalloc

    @classmethod
    def with_capacity(cls, elem: Elem[U], capacity: int, *,  # type: ignore[override]
                      kernel: Kernel | None = None, flags: GFP = _KERNEL) -> VVec[U]:
        """An empty ``VVec`` with room for exactly ``capacity`` elements."""
        return cast("VVec[U]", cls._with_capacity(elem, capacity, kernel, flags))

    @classmethod
    def from_raw_parts(cls, elem: Elem[U], ptr: int, length: int,  # type: ignore[override]
                       capacity: int, *, kernel: Kernel | None = None) -> VVec[U]:
        """Take ownership of a ``VVec`` buffer given away by ``into_raw_parts``.

        Safety: as :meth:`Vec.from_raw_parts`; the buffer must come from a ``VVec`` on the
        same kernel.
        """
        return cast("VVec[U]", cls._from_raw_parts(elem, ptr, length, capacity, kernel))


class KVVec(_KernelVec[T, KVmalloc]):
    """``KVVec<T>``: a vector whose buffer comes from ``kvrealloc`` (kmalloc, else vmalloc).

    >>> k = Kernel(); v = KVVec(u8, [1], kernel=k); k.is_vmalloc_addr(v.ptr)
    False
    >>> v.reserve(8 << 20); k.is_vmalloc_addr(v.ptr)       # past KMALLOC_MAX_SIZE
    True
    """

    __slots__ = ()
    _alias = "KVVec"
    _ALLOC = KVmalloc

    @classmethod
    def with_capacity(cls, elem: Elem[U], capacity: int, *,  # type: ignore[override]
                      kernel: Kernel | None = None, flags: GFP = _KERNEL) -> KVVec[U]:
        """An empty ``KVVec`` with room for exactly ``capacity`` elements."""
        return cast("KVVec[U]", cls._with_capacity(elem, capacity, kernel, flags))

    @classmethod
    def from_raw_parts(cls, elem: Elem[U], ptr: int, length: int,  # type: ignore[override]
                       capacity: int, *, kernel: Kernel | None = None) -> KVVec[U]:
        """Take ownership of a ``KVVec`` buffer given away by ``into_raw_parts``.

        Safety: as :meth:`Vec.from_raw_parts`; the buffer must come from a ``KVVec`` on the
        same kernel.
        """
        return cast("KVVec[U]", cls._from_raw_parts(elem, ptr, length, capacity, kernel))


__all__ = ["KVVec", "KVec", "VVec", "Vec", "VecStats"]
