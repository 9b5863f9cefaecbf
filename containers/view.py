"""Borrowed views of a ``Vec``: :class:`Slice` (``as_slice``), :class:`SpareSlots`
(``spare_capacity_mut``) and the zero-copy ``memoryview`` of ``as_memoryview``.

Rust ties a borrow to its vector with a lifetime; Python cannot, so every view here checks,
on every use, that the vector it came from is unchanged in the ways that matter, and raises
``ValueError`` once it is stale. No view ever reads or writes memory the vector no longer
owns:

- a :class:`Slice` is valid while the vector's length, buffer and state are unchanged;
- a :class:`SpareSlots` likewise (its slots are ``[len, capacity)`` of that moment);
- a ``memoryview`` from ``as_memoryview`` is released by the vector before its buffer is
  resized, dropped or given away. If something still holds the exported memory (a slice of
  the view, a ``numpy`` array made from it), the resize or drop raises ``BufferError`` and
  changes nothing, as resizing a ``bytearray`` with live exports does.
"""

from __future__ import annotations

import pickle
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Generic, Protocol, overload

from ._typing import T

if TYPE_CHECKING:
    from .elem import Elem


class _Vec(Protocol[T]):
    """What a view needs of the ``Vec`` it borrows from (a protocol: ``vec`` imports this
    module, not the other way round)."""

    _state: int
    _ptr: int
    _cap: int
    _len: int
    _alias: str
    _elem: Elem[T]

    def _alive(self) -> None: ...
    def _load(self, i: int, label: str = ...) -> T: ...
    def _load_many(self, n: int, label: str, start: int = ..., step: int = ...) -> list[T]: ...
    def _write_spare(self, slot: int, value: T) -> None: ...


def _stamp(v: _Vec[Any]) -> tuple[int, int, int, int]:
    return v._state, v._ptr, v._cap, v._len


class _Borrow(Generic[T]):
    """A view of slots ``[start, stop)`` of a vector, valid while its stamp is unchanged."""

    __slots__ = ("_vec", "_stamp", "_start", "_stop")
    _what = "view"

    def __init__(self, vec: _Vec[T], start: int, stop: int) -> None:
        vec._alive()
        self._vec = vec
        self._stamp = _stamp(vec)
        self._start, self._stop = start, stop

    def _fresh(self) -> _Vec[T]:
        v = self._vec
        if _stamp(v) != self._stamp:
            raise ValueError(f"this {self._what} view is stale: its {v._alias} changed "
                             "length or buffer, or was dropped")
        return v

    def __len__(self) -> int:
        self._fresh()
        return self._stop - self._start

    def _slot(self, i: int) -> int:
        if not isinstance(i, int):
            raise TypeError(f"indices must be integers or slices, not {type(i).__name__}")
        n = self._stop - self._start
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError(f"{self._what} index out of range")
        return self._start + i


class Slice(_Borrow[T], Sequence[T]):
    """``&[T]``: a read-only view of a vector's elements ``[0, len)`` (``Vec.as_slice``).

    Reads go to simulated memory (KASAN-checked) at the time of the read. O(1) to take;
    ``s[i]`` O(1); ``s[a:b]`` and iteration O(length), as a list.

    >>> from containers import KVec, u8
    >>> v = KVec(u8, [1, 2, 3]); s = v.as_slice()
    >>> s[0], s[1:], list(s), s == [1, 2, 3]
    (1, [2, 3], [1, 2, 3], True)
    >>> v.push(4); s[0]
    Traceback (most recent call last):
    ...
    ValueError: this slice view is stale: its KVec changed length or buffer, or was dropped
    """

    __slots__ = ()
    _what = "slice"

    @overload
    def __getitem__(self, i: int) -> T: ...
    @overload
    def __getitem__(self, i: slice) -> list[T]: ...

    def __getitem__(self, i: int | slice) -> T | list[T]:
        v = self._fresh()
        if isinstance(i, slice):
            start, stop, step = i.indices(self._stop - self._start)
            if step < 0:
                return v._load_many(self._stop, "as_slice")[i]
            return v._load_many(max(0, stop - start), "as_slice", self._start + start, step)
        return v._load(self._slot(i), "as_slice")

    def __iter__(self) -> Iterator[T]:
        v = self._fresh()
        return iter(v._load_many(self._stop - self._start, "as_slice", self._start))

    def tolist(self) -> list[T]:
        """The elements as a list. O(length)."""
        return self[:]

    def __eq__(self, other: object) -> bool:
        if isinstance(other, (Slice, list, tuple)):
            return self.tolist() == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Slice({self.tolist()!r})"


class SpareSlots(_Borrow[T]):
    """``&mut [MaybeUninit<T>]``: the spare slots ``[len, capacity)`` of a vector
    (``Vec.spare_capacity_mut``), to be written and then published with ``Vec.inc_len``.

    ``s[i] = value`` (or ``s.write(i, value)``) validates and stores ``value`` in slot
    ``len + i``; ``s[i:j] = values`` stores several. Reading ``s[i]`` returns whatever the
    slot holds (stale or zero bytes, decoded) for plain element types and raises
    ``TypeError`` for element types that hold Python references, whose uninitialised slots
    are not values. A ``pyobj`` written here is kept alive by the vector until ``inc_len``
    takes it in, the slot is written again, or the vector is dropped.

    >>> from containers import KVec, u16
    >>> v = KVec.with_capacity(u16, 4); v.push(1)
    >>> s = v.spare_capacity_mut(); len(s)
    3
    >>> s[0] = 7; s[1:3] = [8, 9]; v.inc_len(3); v
    KVec(u16, [1, 7, 8, 9])
    """

    __slots__ = ()
    _what = "spare capacity"

    def __getitem__(self, i: int) -> T:
        v = self._fresh()
        if v._elem.holds_refs:
            raise TypeError(f"spare slots of {v._elem.name} are not initialised values; "
                            "write them, then publish them with inc_len")
        return v._load(self._slot(i), "spare_capacity_mut")

    def write(self, i: int, value: T) -> None:
        """Store ``value`` in spare slot ``i``. O(1)."""
        self[i] = value

    @overload
    def __setitem__(self, i: int, value: T) -> None: ...
    @overload
    def __setitem__(self, i: slice, value: Iterable[T]) -> None: ...

    def __setitem__(self, i: int | slice, value: Any) -> None:
        v = self._fresh()
        if isinstance(i, slice):
            start, stop, step = i.indices(self._stop - self._start)
            slots = range(self._start + start, self._start + stop, step)
            items = list(value)
            if len(items) != len(slots):
                raise ValueError(f"cannot write {len(items)} values into {len(slots)} spare slots")
            for x in items:
                v._elem.validate(x)
            for slot, x in zip(slots, items):
                v._write_spare(slot, x)
            return
        slot = self._slot(i)
        v._elem.validate(value)
        v._write_spare(slot, value)

    def __repr__(self) -> str:
        self._fresh()
        return f"SpareSlots({self._stop - self._start} slots)"


class Exports:
    """The memoryviews a vector has exported over its buffer, released before the buffer
    changes.

    Each export is rooted in a private ``memoryview`` of the buffer's bytes; the view handed
    out sits on a ``pickle.PickleBuffer`` that holds the root exported. Releasing the root
    succeeds only when nothing built on the handed-out view is still alive, so a failed
    release proves a reader still exists.
    """

    __slots__ = ("_items",)

    def __init__(self) -> None:
        self._items: list[tuple[memoryview, memoryview]] = []

    def __bool__(self) -> bool:
        return bool(self._items)

    def export(self, flat: memoryview, nbytes: int, fmt: str, shape: list[int]) -> memoryview:
        """A writable view of ``flat[:nbytes]`` cast to ``fmt`` and ``shape``."""
        root = flat[:nbytes]
        with memoryview(pickle.PickleBuffer(root)) as base:
            raw: Any = base.cast("B")
            out: memoryview = raw.cast(fmt, shape)
        self._items.append((root, out))
        return out

    def release(self, name: str) -> None:
        """Release every export; BufferError (nothing else changed) if one is still used."""
        for _, out in self._items:
            try:
                out.release()
            except BufferError:
                raise BufferError(f"{name}: an exported memoryview is still in use (an "
                                  "object made from it, such as a numpy array, is alive); "
                                  "the buffer cannot be resized or freed") from None
        keep = []
        for root, out in self._items:
            try:
                root.release()
            except BufferError:
                keep.append((root, out))
        if keep:
            self._items = keep
            raise BufferError(f"{name}: a view derived from an exported memoryview (a slice "
                              "or cast of it) is still alive; the buffer cannot be resized "
                              "or freed")
        self._items = []


__all__ = ["Slice", "SpareSlots"]
