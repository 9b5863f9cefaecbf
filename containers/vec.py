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
import bisect
import copy
import operator
import pickle
import reprlib
from collections.abc import Callable, Iterable, Iterator, MutableSequence
from itertools import chain
from types import GeneratorType
from typing import TYPE_CHECKING, Any, ClassVar, Final, NamedTuple, cast, overload

from typing_extensions import Self

from kvalloc._validate import require_int
from kvalloc.alloc import Allocator, Kmalloc, KVmalloc, Layout, Vmalloc
from kvalloc.constants import PAGE_SIZE
from kvalloc.errors import KernelBug
from kvalloc.gfp import GFP

from ._owner import ALIVE, DROPPED, GIVEN_AWAY, Owner
from ._rawvec import _ARRAY_CODES, _KERNEL, RawVec, VecStats, _cast
from ._typing import A, B, T, U
from .elem import Array, Elem
from .errors import InsertError, PushError, RemoveError
from .growth import RUST_KVEC, GrowthPolicy
from .view import Exports, Slice, SpareSlots

if TYPE_CHECKING:
    from kvalloc.kernel import Kernel, Page

    from .kbox import Box

_ITER_FIRST = 256              # elements in the first block an iterator reads
_ITER_MAX = 1 << 16            # ... doubling up to this many
_INDEX_MSG = "list indices must be integers or slices, not {}"   # list's own words


class SearchResult(NamedTuple):
    """What :meth:`Vec.binary_search` found: Rust's ``Ok(index)`` is ``found=True``; its
    ``Err(index)`` is ``found=False`` with ``index`` where the value would be inserted.
    A tuple, so ``found, i = v.binary_search(x)`` works; the field ``index`` hides
    ``tuple.index``."""

    found: bool
    index: int  # type: ignore[assignment]


def _span(r: range | slice, n: int, what: str) -> tuple[int, int]:
    """``(start, stop)`` of a step-1 ``range`` (which must lie in ``[0, n]``, as a Rust
    range must) or ``slice`` (clamped, as a Python slice is) over ``n`` elements."""
    if isinstance(r, slice):
        start, stop, step = r.indices(n)
        if step != 1:
            raise ValueError(f"{what} needs a slice with step 1, got step {step}")
        return start, max(start, stop)
    if isinstance(r, range):
        if r.step != 1:
            raise ValueError(f"{what} needs a range with step 1, got step {r.step}")
        if not 0 <= r.start <= r.stop:
            raise ValueError(f"{what}: slice index starts at {r.start} but ends at {r.stop}")
        if r.stop > n:
            raise ValueError(f"{what}: range end index {r.stop} out of range for slice of "
                             f"length {n}")
        return r.start, r.stop
    raise TypeError(f"{what} needs a range or a slice, not {type(r).__name__}")


def _as_index(index: object) -> int:
    """``index`` as an int (``__index__`` accepted, as list accepts it), else TypeError."""
    if type(index) is int:
        return index
    try:
        return operator.index(index)  # type: ignore[arg-type]
    except TypeError:
        raise TypeError(_INDEX_MSG.format(type(index).__name__)) from None


def _gfp(flags: object) -> GFP:
    """``flags`` as GFP: an int in ``[0, 2**32)``, else TypeError / ValueError."""
    if flags is _KERNEL:
        return _KERNEL
    return GFP(require_int("flags", flags, 0, 1 << 32))


#: Exporters whose memory no vector operation can free or move: a view of one is copied from
#: as it is, without a snapshot.
_HOST_OWNED: Final = frozenset({bytes, bytearray, array.array})


def _same_format(items: object, fmt: str | None) -> Any:
    """``items`` if it is a flat buffer of ``fmt`` values (an ``array`` of that typecode, a
    1-D contiguous ``memoryview`` of that format, ``bytes``/``bytearray`` for ``B``), else
    None. Such a buffer needs no per-item check: each item is a valid ``fmt`` value."""
    if isinstance(items, array.array):
        return items if items.typecode == fmt else None
    if isinstance(items, memoryview):
        if items.format != fmt or items.ndim != 1 or not items.c_contiguous:
            return None
        if type(items.obj) in _HOST_OWNED:
            return items
        # a snapshot: the view may be of simulated memory (an mmap'd contents chunk, or an
        # object made over one) that the grow frees or moves before the copy
        return _cast(memoryview(items.tobytes()), fmt)
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

    __slots__ = ("_len", "_flags", "_state", "_pending", "__weakref__")

    _alias = "Vec"
    _pending: dict[int, Any] | None

    def __init__(self, elem: Elem[T], iterable: Iterable[T] = (), *, alloc: A,
                 flags: GFP = _KERNEL, growth: GrowthPolicy = RUST_KVEC) -> None:
        if getattr(self, "_state", DROPPED) == ALIVE:
            self._reinit(elem, iterable, alloc, flags, growth)
            return
        self._len = 0
        self._pending = None
        self._state = DROPPED                  # owns nothing until the buffer exists
        self._init_buffer(elem, alloc, growth)
        self._flags = _gfp(flags)
        self._state = ALIVE
        self._init_items(list(iterable), self._flags)

    def _reinit(self, elem: Elem[T], iterable: Iterable[T], alloc: A, flags: GFP,
                growth: GrowthPolicy) -> None:
        """``list.__init__`` on a live vector: the new contents are built first, in a buffer
        of their own (an error leaves this vector as it was), then replace the old ones."""
        if self._exports:
            self._exports.release(self._alias)
        if alloc == self._alloc:
            alloc = self._alloc                 # the same allocator object: its observer stays
        new = object.__new__(type(self))
        Vec.__init__(new, elem, iterable, alloc=alloc, flags=flags, growth=growth)
        stats, new_flags, counters = new._stats, new._flags, self._stats
        ptr, n, cap = new.into_raw_parts()
        self.drop()
        self._len = 0
        self._pending = None
        self._init_buffer(elem, alloc, growth)
        self._flags = new_flags
        self._state = ALIVE
        self._adopt(ptr, n, cap)
        counters.reallocs += stats.reallocs        # the counters only grow
        self._stats = counters

    def _init_items(self, items: list[T], flags: GFP) -> None:
        """Fill an empty vector with ``items``, in a buffer of exactly ``len(items)``."""
        if not items:
            return
        elem = self._elem
        fmt = elem.fmt
        if fmt is not None and fmt in _ARRAY_CODES and elem.raw_ok:
            try:
                packed = array.array(fmt, cast(list[Any], items))      # C-speed checks
            except (TypeError, OverflowError):
                for v in items:
                    elem.validate(v)
                raise
            self._realloc(len(items), flags)
            if self._kasan is not None:
                self._kasan_ok(0, len(items), True, "__init__")
            self._write(0, memoryview(packed).cast("B"))
        else:
            for v in items:
                elem.validate(v)
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
        # The fast path is on (_push_flags, or _push_run_flags for a push run after slot 0,
        # is GFP.KERNEL) only for raw_ok elements, whose view store accepts exactly what
        # validate() accepts, and (KASAN on) while the shadow is unchanged since the fast
        # room was checked; the push view covers just that room. A refused value, a full
        # room or no push view go the slow way, which names a refusal.
        if flags is self._push_flags:
            try:
                self._tpush[n] = value
                self._len = n + 1
                return
            except (TypeError, ValueError, OverflowError, IndexError):
                pass
        elif flags is self._push_run_flags:
            try:
                self._tpush[n - self._tbase] = value
                self._len = n + 1
                return
            except (TypeError, ValueError, OverflowError, IndexError):
                pass
        self._push_slow(value, flags)

    def _push_slow(self, value: T, flags: GFP) -> None:
        if self._state:
            self._alive()
        if flags is not _KERNEL:
            flags = _gfp(flags)
        elem = self._elem
        elem.validate(value)
        n = self._len
        if n == self._cap:
            self._grow_amortized(n, 1, flags)
        base, tend = self._tbase, self._tend     # tend < 0: no raw typed view, no push run
        if 0 < tend <= n:
            # A paged buffer's push run is full: the next run takes this push. Not after a
            # resize (tend 0), where the page-cache store below is the cheaper way.
            self._retarget(n)
            base = self._tbase
        tpush = self._tpush
        if _KERNEL in (self._push_flags, self._push_run_flags) and tpush is not None and \
                0 <= n - base < len(tpush):
            tpush[n - base] = value         # in the fast room: no page lookup, no KASAN check
        else:
            self._store(n, value, "push", validated=True)
        if elem.holds_refs:
            elem.incref(value)
        self._len = n + 1
        if n + 1 == self._cap:
            # Full: the next push must grow, so it comes straight here rather than through
            # a store the push view refuses (a raised IndexError costs ~1 us; with exact
            # growth every push is such a push).
            self._fast_push(False)
            return
        if _KERNEL not in (self._push_flags, self._push_run_flags) and self._may_push_fast():
            self._fast_push(True)           # room again: the buffer was full, then shorter
        if tend >= 0 and not base <= n + 1 < self._tend:
            self._retarget(n + 1)           # the next run takes the pushes

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
        self.extend_with(length - n, value, flags)

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
            # an iterator's length hint may lie and list() trusts it (a generator has none)
            seq = items if isinstance(items, list) else list(items) \
                if hasattr(type(items), "__len__") or type(items) is GeneratorType \
                else [x for x in items]
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
        items = self._load_many(self._len, "retain")
        self._compact([i for i, v in enumerate(items) if pred(v)], "retain")

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
        parts = self._ptr, self._len, self._cap
        self._hand_over(GIVEN_AWAY)
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
        if self._exports:
            self._exports.release(self._alias)     # BufferError: nothing freed
        self._release(0, self._len)
        self._len = 0
        self._drop_pending()
        self._free_buffer()
        self._state = DROPPED

    # -- Rust-for-Linux: more of kvec.rs ---------------------------------------------------

    @classmethod
    def from_elem(cls, elem: Elem[U], value: U, n: int, *, alloc: B,
                  flags: GFP = _KERNEL) -> Vec[U, B]:
        """``n`` copies of ``value`` in a buffer of exactly ``n`` (``Vec::from_elem``).

        O(n) writes in bounded steps, after one allocation.

        >>> from kvalloc import Kmalloc
        >>> v = Vec.from_elem(u8, 7, 3, alloc=Kmalloc(Kernel())); v, v.capacity
        (Vec(u8, [7, 7, 7]), 3)
        """
        v: Vec[U, B] = Vec(elem, alloc=alloc, flags=flags)
        v.extend_with(n, value, flags)
        return v

    def extend_with(self, n: int, value: T, flags: GFP = _KERNEL) -> None:
        """Append ``n`` copies of ``value`` (``Vec::extend_with``). O(n) plus at most one
        reallocation; AllocError (vector unchanged) if the growth fails.

        >>> v = KVec(u8, [1]); v.extend_with(2, 0); v
        KVec(u8, [1, 0, 0])
        """
        self._alive()
        require_int("n", n, 0)
        flags = _gfp(flags)
        self._elem.validate(value)
        if not n:
            return
        m = self._len
        self._grow_amortized(m, n, flags)
        self._fill(m, n, value, "extend_with")
        self._len = m + n

    def remove_at(self, i: int) -> T:
        """Remove and return the element at ``i`` (Rust-for-Linux ``Vec::remove``), moving the
        tail down. O(len - i).

        Spelled ``remove_at`` because a vector is a Python list too, and ``list.remove(x)``
        removes by value (:meth:`remove` keeps that meaning). :class:`RemoveError` (an
        ``IndexError``) unless ``0 <= i < len``; negative indices are out of range, as in Rust.

        >>> v = KVec(u8, [1, 2, 3]); v.remove_at(1), v
        (2, KVec(u8, [1, 3]))
        >>> v.remove_at(5)
        Traceback (most recent call last):
        ...
        containers.errors.RemoveError: removal index (is 5) should be < len (is 2)
        """
        self._alive()
        require_int("i", i)
        if not 0 <= i < self._len:
            raise RemoveError(i, self._len)
        return self.pop(i)

    def spare_capacity_mut(self) -> SpareSlots[T]:
        """A writable view of the spare slots ``[len, capacity)``; publish what you wrote
        with :meth:`inc_len` (``Vec::spare_capacity_mut``). O(1).

        The view is stale (ValueError on use) once the vector's length or buffer changes.

        >>> v = KVec.with_capacity(u32, 2); s = v.spare_capacity_mut()
        >>> s[0] = 5; v.inc_len(1); v
        KVec(u32, [5])
        """
        return SpareSlots(self, self._len, self._cap)

    def _write_spare(self, slot: int, value: T) -> None:
        """Store validated ``value`` in spare ``slot``; a referencing value stays pending
        (kept alive by the vector) until :meth:`inc_len` takes it in."""
        elem = self._elem
        if elem.holds_refs:
            pending = self._pending
            if pending is None:
                pending = self._pending = {}
            elem.incref(value)
            if slot in pending:
                elem.decref_raw(elem.pack(pending[slot]))
            pending[slot] = value
        self._store(slot, value, "spare_capacity_mut", validated=True)

    def _drop_pending(self) -> None:
        pending, self._pending = self._pending, None
        if pending:
            for value in pending.values():
                self._elem.decref_raw(self._elem.pack(value))

    def inc_len(self, n: int) -> None:
        """Take the next ``n`` spare slots into the vector (``Vec::inc_len``). O(1), or O(n)
        for element types holding Python references.

        Rust leaves it to the caller that those slots are initialised; here ValueError says
        when ``n > capacity - len``, or when a ``pyobj`` slot was not written through
        :meth:`spare_capacity_mut` (or was overwritten since), so nothing unsound is taken in.

        >>> v = KVec.with_capacity(u8, 1); v.inc_len(2)
        Traceback (most recent call last):
        ...
        ValueError: inc_len(2) needs n <= capacity - len = 1
        """
        self._alive()
        require_int("n", n, 0)
        m = self._len
        if n > self._cap - m:
            raise ValueError(f"inc_len({n}) needs n <= capacity - len = {self._cap - m}")
        elem = self._elem
        if elem.holds_refs and n:
            pending = self._pending or {}
            size = elem.size
            data = self._read(m * size, n * size)
            for j in range(n):
                slot = m + j
                if slot not in pending or \
                        elem.pack(pending[slot]) != data[j * size:(j + 1) * size]:
                    raise ValueError(f"inc_len({n}): spare slot {j} was not written through "
                                     f"spare_capacity_mut (or was overwritten since), so it "
                                     f"holds no {elem.name} value")
            for j in range(n):
                del pending[m + j]          # the element owns the reference now
        self._len = m + n

    def dec_len(self, n: int) -> list[T]:
        """Remove the last ``n`` elements and return them (``Vec::dec_len``, whose caller
        takes ownership of what it returns). O(n). ValueError if ``n > len``.

        >>> v = KVec(u8, [1, 2, 3]); v.dec_len(2), v
        ([2, 3], KVec(u8, [1]))
        """
        self._alive()
        require_int("n", n, 0)
        m = self._len
        if n > m:
            raise ValueError(f"dec_len({n}) needs n <= len = {m}")
        items = self._load_many(n, "dec_len", m - n)
        self._release(m - n, m)
        self._len = m - n
        return items

    def as_slice(self) -> Slice[T]:
        """A read-only view of the elements ``[0, len)`` (``Vec::as_slice``). O(1).

        Reads go to simulated memory when made; the view is stale (ValueError) once the
        vector's length or buffer changes.

        >>> v = KVec(u16, [4, 5]); s = v.as_slice(); len(s), s[-1]
        (2, 5)
        """
        return Slice(self, 0, self._len)

    def page_iter(self) -> Iterator[Page]:
        """The pages of a vmalloc-backed buffer, in address order (``AsPageIter::page_iter``
        for ``VVec``). O(pages). TypeError for a buffer in kmalloc memory.

        >>> k = Kernel(); v = VVec.with_capacity(u8, 5000, kernel=k)
        >>> [p.pfn == k.vmalloc_to_page(v.ptr + i * 4096).pfn for i, p in enumerate(v.page_iter())]
        [True, True]
        """
        self._alive()
        k, ptr, nbytes = self._kernel, self._ptr, self._cap * self._elem.size
        if isinstance(self._alloc, Kmalloc) or (nbytes and not k.is_vmalloc_addr(ptr)):
            raise TypeError(f"page_iter needs a vmalloc-backed buffer; this {self._alias}'s "
                            "buffer is kmalloc memory")
        pages = []
        for i in range((nbytes + PAGE_SIZE - 1) // PAGE_SIZE):
            page = k.vmalloc_to_page(ptr + i * PAGE_SIZE)
            assert page is not None
            pages.append(page)
        return iter(pages)

    def collect(self, alloc: B, flags: GFP = _KERNEL) -> Vec[T, B]:
        """Move every element into a vector allocated by ``alloc`` (``IntoIter::collect``,
        here into any allocator); this vector is left dropped.

        With an equal allocator the buffer itself is handed over, O(1); otherwise one
        allocation of exactly ``len`` elements and one copy, O(len). AllocError (nothing
        changed) if that allocation fails. The result is a ``KVec``, ``VVec`` or ``KVVec``
        for the kernel's allocators.

        >>> from kvalloc import Vmalloc
        >>> k = Kernel(); v = KVec(u8, [1, 2], kernel=k); w = v.collect(Vmalloc(k))
        >>> w, k.is_vmalloc_addr(w.ptr), v
        (VVec(u8, [1, 2]), True, KVec(u8, <dropped>))
        """
        self._alive()
        if not isinstance(alloc, Allocator):
            raise TypeError(f"alloc must be an Allocator, not {type(alloc).__name__}")
        if alloc.kernel is not self._kernel:
            raise ValueError("collect needs an allocator on this vector's kernel")
        flags = _gfp(flags)
        if self._exports:
            self._exports.release(self._alias)
        cls: type[Vec[Any, Any]] = _VEC_FOR.get(type(alloc), Vec)
        new: Vec[T, B] = object.__new__(cls)
        Vec.__init__(new, self._elem, alloc=alloc, flags=self._flags, growth=self._growth)
        n = self._len
        if alloc == self._alloc:
            ptr, cap = self._ptr, self._cap
            self._hand_over(DROPPED)
            new._adopt(ptr, n, cap)
            return new
        if n:
            new._realloc(n, flags)
            new._copy_from(0, self, 0, n, "collect")
            new._len = n
        self._release(0, n, decref=False)       # the references moved with the bytes
        self._len = 0
        self.drop()
        return new

    def _hand_over(self, state: int) -> None:
        """Give the buffer to another owner: no views left, owning nothing; ``state`` is
        DROPPED (the vector is empty) or GIVEN_AWAY (raw parts)."""
        if self._exports:
            self._exports.release(self._alias)
        self._drop_pending()
        self._state = state
        if state == DROPPED:
            self._len = 0
            self._set_buffer(Layout(0, self._elem.align).dangling(), 0)
        else:
            self._unmap()                      # the fast paths must see the vector is gone

    def _copy_from(self, dst: int, src: Vec[T, Any], start: int, n: int, label: str) -> None:
        """Copy the bytes of ``src`` slots ``[start, start + n)`` into our slots from ``dst``
        (KASAN-checked on both sides); no reference bookkeeping."""
        if n <= 0:
            return
        size = self._elem.size
        if src._kasan is not None:
            src._kasan_ok(start, n, False, label)
        if self._kasan is not None:
            self._kasan_ok(dst, n, True, label)
        self._write(dst * size, src._read(start * size, n * size))

    def into_boxed_slice(self) -> Box[list[T], A]:
        """The elements as a boxed slice (``Box<[T]>``: a box of ``Array(elem, len)``),
        after shrinking the buffer to ``len``; this vector is given away. O(1) plus the
        shrink. AllocError (nothing changed) if the shrink fails.

        >>> b = KVec(u8, [1, 2, 3]).into_boxed_slice(); b
        KBox(Array(u8, 3), [1, 2, 3])
        """
        from .kbox import _BOX_FOR, Box
        self._alive()
        n = self._len
        if n < self._cap:
            if n:
                self._realloc(n, self._flags)
            else:
                self._free_buffer()
        elem = Array(self._elem, n)
        cls: type[Box[Any, Any]] = _BOX_FOR.get(type(self._alloc), Box)
        box: Box[list[T], A] = cls(elem, self._ptr if n else elem.align, self._alloc)
        self._hand_over(GIVEN_AWAY)
        return box

    # -- Rust std conveniences, in simulated memory ----------------------------------------

    def swap(self, i: int, j: int) -> None:
        """Exchange elements ``i`` and ``j`` (``slice::swap``; negative indices as in a
        list). O(1).

        >>> v = KVec(u8, [1, 2, 3]); v.swap(0, -1); v
        KVec(u8, [3, 2, 1])
        """
        self._alive()
        i, j = self._index(_as_index(i)), self._index(_as_index(j))
        if i == j:
            return
        size = self._elem.size
        if self._kasan is not None:
            self._kasan_ok(i, 1, True, "swap")
            self._kasan_ok(j, 1, True, "swap")
        a, b = self._read(i * size, size), self._read(j * size, size)
        self._write(i * size, b)
        self._write(j * size, a)

    def swap_remove(self, i: int) -> T:
        """Remove and return element ``i``, moving the last element into its place
        (``Vec::swap_remove``). O(1). IndexError on a bad index (negative as in a list).

        >>> v = KVec(u8, [1, 2, 3, 4]); v.swap_remove(0), v
        (1, KVec(u8, [4, 2, 3]))
        """
        self._alive()
        i = self._index(_as_index(i))
        value = self._load(i, "swap_remove")
        last = self._len - 1
        self._release(i, i + 1)
        if i != last:
            if self._kasan is not None:
                self._kasan_ok(i, 1, True, "swap_remove")
            self._memmove(i, last, 1)
        self._release(last, last, decref=False)  # keeps the push run below the length
        self._len = last
        return value

    def split_off(self, at: int) -> Self:
        """Move elements ``[at, len)`` into a new vector of the same class and allocator,
        allocated for exactly that many (``Vec::split_off``). O(len - at) plus the
        allocation; AllocError (nothing changed) if it fails; ValueError if ``at > len``.

        >>> v = KVec(u8, [1, 2, 3]); w = v.split_off(1); v, w
        (KVec(u8, [1]), KVec(u8, [2, 3]))
        """
        self._alive()
        require_int("at", at, 0)
        n = self._len
        if at > n:
            raise ValueError(f"`at` split index (is {at}) should be <= len (is {n})")
        new = self._like([])
        k = n - at
        if k:
            new._realloc(k, self._flags)
            new._copy_from(0, self, at, k, "split_off")
            new._len = k
        self._release(at, n, decref=False)      # the references moved with the bytes
        self._len = at
        return new

    def append_vec(self, other: Vec[T, Any], flags: GFP = _KERNEL) -> None:
        """Move every element of ``other`` to the end of this vector; ``other`` is left
        empty with its capacity (Rust's ``Vec::append``). O(len(other)) plus at most one
        reallocation; AllocError (both unchanged) if it fails.

        Spelled ``append_vec`` because ``list.append(x)`` appends one element.

        >>> a, b = KVec(u8, [1]), KVec(u8, [2, 3]); a.append_vec(b); a, b
        (KVec(u8, [1, 2, 3]), KVec(u8, []))
        """
        self._alive()
        if not isinstance(other, Vec):
            raise TypeError(f"append_vec needs a Vec, not {type(other).__name__}")
        other._alive()
        if other is self:
            raise ValueError("cannot append a vector to itself")
        if other._elem != self._elem:
            raise TypeError(f"append_vec needs a vector of {self._elem.name}, not "
                            f"{other._elem.name}")
        flags = _gfp(flags)
        k, n = other._len, self._len
        if not k:
            return
        self._grow_amortized(n, k, flags)
        self._copy_from(n, other, 0, k, "append_vec")
        other._release(0, k, decref=False)      # the references moved with the bytes
        other._len = 0
        self._len = n + k

    def _compact(self, keep: list[int], label: str) -> None:
        """Keep only the elements at ascending indices ``keep``, in order, moving their bytes
        down in simulated memory and dropping the references of the others. O(len)."""
        n = self._len
        if len(keep) == n:
            return
        elem, size = self._elem, self._elem.size
        if self._kasan is not None:
            self._kasan_ok(0, n, True, label)
        data = memoryview(self._read(0, n * size))
        if elem.holds_refs:
            kept = set(keep)
            for i in range(n):
                if i not in kept:
                    elem.decref_raw(data[i * size:(i + 1) * size])
        out = b"".join([data[i * size:(i + 1) * size] for i in keep])
        self._release(len(keep), n, decref=False)
        self._write(0, out)
        self._len = len(keep)

    def dedup_by(self, same_bucket: Callable[[T, T], object]) -> None:
        """Remove consecutive elements ``a`` for which ``same_bucket(a, b)`` is true, ``b``
        being the element kept before ``a`` (``Vec::dedup_by``). O(len).

        >>> v = KVec(u8, [1, 2, 4, 5, 9]); v.dedup_by(lambda a, b: a - b == 1); v
        KVec(u8, [1, 4, 9])
        """
        self._alive()
        items = self._load_many(self._len, "dedup")
        if not items:
            return
        keep, prev = [0], items[0]
        for i in range(1, len(items)):
            x = items[i]
            if not same_bucket(x, prev):
                keep.append(i)
                prev = x
        self._compact(keep, "dedup")

    def dedup_by_key(self, key: Callable[[T], object]) -> None:
        """Remove consecutive elements with equal ``key`` (``Vec::dedup_by_key``). O(len).

        >>> v = KVec(u8, [10, 11, 20, 12]); v.dedup_by_key(lambda x: x // 10); v
        KVec(u8, [10, 20, 12])
        """
        self.dedup_by(lambda a, b: key(a) == key(b))

    def dedup(self) -> None:
        """Remove consecutive equal elements (``Vec::dedup``). O(len).

        >>> v = KVec(u8, [1, 1, 2, 1, 1]); v.dedup(); v
        KVec(u8, [1, 2, 1])
        """
        self.dedup_by(lambda a, b: a == b)

    def drain(self, r: range | slice = slice(None)) -> Iterator[T]:
        """Remove the elements in ``r`` at once and return an iterator over them
        (``Vec::drain``). O(len - start).

        ``r`` is a ``range`` (Rust's ``a..b``: it must lie within the vector, else
        ValueError) or a ``slice`` (clamped, as Python slices are), with step 1.

        >>> v = KVec(u8, [1, 2, 3, 4]); list(v.drain(range(1, 3))), v
        ([2, 3], KVec(u8, [1, 4]))
        """
        self._alive()
        n = self._len
        start, stop = _span(r, n, "drain")
        k = stop - start
        items = self._load_many(k, "drain", start)
        if k:
            self._release(start, stop)
            if self._kasan is not None:
                self._kasan_ok(start, n - start, True, "drain")
            self._memmove(start, stop, n - stop)
            self._len = n - k
        return iter(items)

    def extend_from_within(self, r: range | slice = slice(None), flags: GFP = _KERNEL) -> None:
        """Append a copy of the elements in ``r`` (``Vec::extend_from_within``; ``r`` as for
        :meth:`drain`). O(len(r)) plus at most one reallocation: the bytes are copied inside
        the buffer. AllocError (vector unchanged) if the growth fails.

        >>> v = KVec(u8, [1, 2, 3]); v.extend_from_within(slice(1, None)); v
        KVec(u8, [1, 2, 3, 2, 3])
        """
        self._alive()
        flags = _gfp(flags)
        n = self._len
        start, stop = _span(r, n, "extend_from_within")
        k = stop - start
        if not k:
            return
        self._grow_amortized(n, k, flags)
        self._copy_from(n, self, start, k, "extend_from_within")
        elem = self._elem
        if elem.holds_refs:
            for v in self._load_many(k, "extend_from_within", n):
                elem.incref(v)
        self._len = n + k

    def sort(self, *, key: Callable[[T], Any] | None = None, reverse: bool = False) -> None:
        """Sort in place, stably (``list.sort``; Rust's ``slice::sort``). O(len log len).

        The elements' bytes are moved within the buffer, which is not reallocated; the
        values are compared on the host. ValueError if ``key`` changes the vector's length or
        buffer while sorting (as ``list.sort`` reports a list modified during sort).

        >>> v = KVec(u8, [3, 1, 2]); v.sort(); v
        KVec(u8, [1, 2, 3])
        >>> v.sort(key=lambda x: -x); v
        KVec(u8, [3, 2, 1])
        """
        self._alive()
        n = self._len
        stamp = (self._ptr, self._cap, n)
        items = self._load_many(n, "sort")
        elem = self._elem
        if elem.raw_ok and elem.fmt in _ARRAY_CODES:
            items.sort(key=key, reverse=reverse)       # the values round-trip exactly
            order = None
        else:
            by: Callable[[int], Any] = items.__getitem__ if key is None \
                else (lambda i: key(items[i]))
            order = sorted(range(n), key=by, reverse=reverse)
        if (self._state, self._ptr, self._cap, self._len) != (ALIVE, *stamp):
            raise ValueError(f"{self._alias} modified during sort")
        if order is None:
            self._store_many(0, items, "sort", incref=False)
            return
        size = elem.size
        if self._kasan is not None:
            self._kasan_ok(0, n, True, "sort")
        data = memoryview(self._read(0, n * size))
        self._write(0, b"".join([data[i * size:(i + 1) * size] for i in order]))

    def sort_by_key(self, key: Callable[[T], Any]) -> None:
        """``sort(key=key)`` (``slice::sort_by_key``): stable. O(len log len).

        >>> v = KVec(i8, [-3, 1, -2]); v.sort_by_key(abs); v
        KVec(i8, [1, -2, -3])
        """
        self.sort(key=key)

    def sort_by(self, compare: Callable[[T, T], int]) -> None:
        """Sort stably by ``compare(a, b)`` (negative, zero or positive; ``slice::sort_by``).
        O(len log len).

        >>> v = KVec(u8, [1, 3, 2]); v.sort_by(lambda a, b: b - a); v
        KVec(u8, [3, 2, 1])
        """
        from functools import cmp_to_key
        self.sort(key=cmp_to_key(compare))

    def binary_search(self, x: Any) -> SearchResult:
        """Search the sorted vector for ``x`` (``slice::binary_search``): ``found`` and the
        index of the first match, or where ``x`` would be inserted to keep the order.
        O(log len) element reads.

        >>> v = KVec(u8, [1, 3, 5]); v.binary_search(3), v.binary_search(4)
        (SearchResult(found=True, index=1), SearchResult(found=False, index=2))
        """
        self._alive()
        i = bisect.bisect_left(self, x)
        return SearchResult(i < self._len and self._load(i, "binary_search") == x, i)

    def binary_search_by_key(self, b: Any, key: Callable[[T], Any]) -> SearchResult:
        """:meth:`binary_search` for ``b`` among ``key(element)`` of a vector sorted by
        ``key`` (``slice::binary_search_by_key``). O(log len) element reads.

        >>> KVec(u8, [10, 20, 30]).binary_search_by_key(2, lambda x: x // 10)
        SearchResult(found=True, index=1)
        """
        self._alive()
        i = bisect.bisect_left(self, b, key=key)
        return SearchResult(i < self._len and key(self._load(i, "binary_search")) == b, i)

    def chunks(self, size: int) -> Iterator[list[T]]:
        """The elements in lists of ``size`` (the last may be shorter; ``slice::chunks``),
        each read when it is reached. ValueError if the vector changes meanwhile.

        >>> list(KVec(u8, range(5)).chunks(2))
        [[0, 1], [2, 3], [4]]
        """
        self._alive()
        require_int("size", size, 1)
        s = self.as_slice()
        return (s[i:i + size] for i in range(0, len(s), size))

    def windows(self, size: int) -> Iterator[list[T]]:
        """Every run of ``size`` consecutive elements, in order (``slice::windows``), each
        read when it is reached. ValueError if the vector changes meanwhile.

        >>> list(KVec(u8, range(4)).windows(3))
        [[0, 1, 2], [1, 2, 3]]
        """
        self._alive()
        require_int("size", size, 1)
        s = self.as_slice()
        return (s[i:i + size] for i in range(len(s) - size + 1))

    def fill(self, value: T) -> None:
        """Set every element to ``value`` (``slice::fill``). O(len) writes in bounded steps.

        >>> v = KVec(u8, [1, 2]); v.fill(9); v
        KVec(u8, [9, 9])
        """
        self._alive()
        self._elem.validate(value)
        n = self._len
        self._release(0, n)
        self._fill(0, n, value, "fill")

    def rotate_left(self, mid: int) -> None:
        """Rotate so that element ``mid`` comes first (``slice::rotate_left``). O(len).
        ValueError if ``mid > len``.

        >>> v = KVec(u8, [1, 2, 3, 4]); v.rotate_left(1); v
        KVec(u8, [2, 3, 4, 1])
        """
        self._alive()
        require_int("mid", mid, 0)
        n = self._len
        if mid > n:
            raise ValueError(f"rotate_left({mid}) needs mid <= len = {n}")
        if mid in (0, n):
            return
        size = self._elem.size
        if self._kasan is not None:
            self._kasan_ok(0, n, True, "rotate_left")
        data = self._read(0, n * size)
        self._write(0, data[mid * size:] + data[:mid * size])

    def rotate_right(self, k: int) -> None:
        """Rotate so that the last ``k`` elements come first (``slice::rotate_right``).
        O(len). ValueError if ``k > len``.

        >>> v = KVec(u8, [1, 2, 3, 4]); v.rotate_right(1); v
        KVec(u8, [4, 1, 2, 3])
        """
        self._alive()
        require_int("k", k, 0)
        if k > self._len:
            raise ValueError(f"rotate_right({k}) needs k <= len = {self._len}")
        self.rotate_left(self._len - k)

    def get(self, i: int) -> T | None:
        """Element ``i``, or None unless ``0 <= i < len`` (``slice::get``). O(1).

        >>> v = KVec(u8, [5]); v.get(0), v.get(1), v.get(-1)
        (5, None, None)
        """
        self._alive()
        require_int("i", i)
        return self._load(i, "get") if 0 <= i < self._len else None

    def first(self) -> T | None:
        """The first element, or None when empty (``slice::first``). O(1)."""
        return self.get(0)

    def last(self) -> T | None:
        """The last element, or None when empty (``slice::last``). O(1).

        >>> KVec(u8, [1, 2]).last(), KVec(u8).first()
        (2, None)
        """
        self._alive()
        return self.get(self._len - 1) if self._len else None

    # -- zero-copy views ---------------------------------------------------------------------

    def as_memoryview(self) -> memoryview:
        """A writable ``memoryview`` of the elements ``[0, len)``, sharing the buffer's host
        memory (no copy): format ``elem.fmt``, shape ``(len,)``; for ``Array(e, n)`` of a plain
        ``e``, shape ``(len, n)``; for ``Struct`` and other records, unsigned bytes of shape
        ``(len, size)`` (an empty vector gives an empty read-only 1-D view).
        ``numpy.frombuffer`` accepts it. O(1).

        The view is released when the buffer is resized, dropped or given away, so a use
        after that raises ValueError; if an object made from it (a numpy array, a slice of
        the view) is still alive then, that resize or drop raises BufferError and changes
        nothing. Under KASAN the view is allowed: it only ever reaches bytes of the live
        allocation, which KASAN marks accessible, and it is released before any of them is
        poisoned. BufferError when the buffer's frames are not physically contiguous (a
        paged vmalloc buffer); TypeError for ``pyobj`` elements, which are handles.

        >>> v = KVec(u32, [1, 2]); m = v.as_memoryview(); m[0] = 7; v, m.tolist()
        (KVec(u32, [7, 2]), [7, 2])
        >>> v.push(3); m[0]
        Traceback (most recent call last):
        ...
        ValueError: operation forbidden on released memoryview object
        """
        self._alive()
        elem, n = self._elem, self._len
        if elem.holds_refs:
            raise TypeError(f"as_memoryview needs plain data; {elem.name} elements are "
                            "handles to Python objects")
        if isinstance(elem, Array) and elem.elem.fmt is not None and \
                elem.elem.fmt in _ARRAY_CODES | {"?", "f"}:
            fmt, shape = elem.elem.fmt, [n, elem.n]
        elif elem.fmt is not None:
            fmt, shape = elem.fmt, [n]
        else:
            fmt, shape = "B", [n, elem.size]
        nbytes = n * elem.size
        if not nbytes:
            empty: memoryview = _cast(memoryview(b""), fmt)   # 1-D: no zeros in a shape
            return empty
        flat = self._flat
        if flat is None:
            raise BufferError(f"as_memoryview: this {self._alias}'s buffer is not physically "
                              "contiguous in host memory (a paged vmalloc buffer); use "
                              "as_slice() or as_bytes()")
        if self._exports is None:
            self._exports = Exports()
        return self._exports.export(flat, nbytes, fmt, shape)

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
        if elem.any_bytes_decode:
            return
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
            if step > 0:
                return self._like(self._load_many(stop - start, "__getitem__", start, step))
            r = range(start, stop, step)
            if not r:
                return self._like([])
            items = self._load_many(r[0] + 1 - r[-1], "__getitem__", r[-1])
            return self._like(items[::-1][::-step])
        self._alive()
        return self._load(self._index(_as_index(index)), "__getitem__")

    @overload
    def __setitem__(self, index: int, value: T) -> None: ...
    @overload
    def __setitem__(self, index: slice, value: Iterable[T]) -> None: ...

    def __setitem__(self, index: int | slice, value: Any) -> None:
        self._alive()
        if isinstance(index, slice):
            self._set_slice(index, value)
            return
        i = self._index(_as_index(index))
        elem = self._elem
        elem.validate(value)
        if elem.holds_refs:
            elem.incref(value)
            self._release(i, i + 1)
        self._store(i, value, "__setitem__")

    def _set_slice(self, index: slice, value: Any) -> None:
        """``v[a:b] = values`` (list semantics): the tail is moved in simulated memory, only
        the slots written change; an extended slice writes its slots one by one. Atomic on
        a bad value and on AllocError."""
        n, elem = self._len, self._elem
        start, stop, step = index.indices(n)
        if isinstance(value, Vec):
            value._alive()
        try:
            new = list(value)
        except TypeError:
            raise TypeError("can only assign an iterable") from None
        for v in new:
            elem.validate(v)
        m = len(new)
        if step != 1:
            slots = range(start, stop, step)
            if m != len(slots):
                raise ValueError(f"attempt to assign sequence of size {m} to extended slice "
                                 f"of size {len(slots)}")
            for i, v in zip(slots, new):
                elem.incref(v)
                self._release(i, i + 1)
                self._store(i, v, "__setitem__", validated=True)
            return
        stop = max(start, stop)
        k = stop - start
        if m > k:
            self._grow_amortized(n, m - k, self._flags)
        if elem.holds_refs:
            for v in new:                  # hold the new references before dropping the old
                elem.incref(v)
        self._release(start, stop)
        if m != k:
            if self._kasan is not None:
                self._kasan_ok(start, n - start + max(0, m - k), True, "__setitem__")
            self._memmove(start + m, stop, n - stop)
        self._store_many(start, new, "__setitem__", incref=False)
        self._len = n + m - k

    def __delitem__(self, index: int | slice) -> None:
        self._alive()
        if isinstance(index, slice):
            start, stop, step = index.indices(self._len)
            if step == 1:
                self.drain(slice(start, stop))
            else:
                gone = set(range(start, stop, step))
                self._compact([i for i in range(self._len) if i not in gone], "__delitem__")
            return
        i = self._index(_as_index(index))
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

    # -- list conformance: operators ---------------------------------------------------------

    def copy(self) -> Self:
        """``list.copy``: :meth:`clone` (a new allocation from the same allocator). O(len).

        >>> v = KVec(u8, [1]); w = v.copy(); w.push(2); v, w
        (KVec(u8, [1]), KVec(u8, [1, 2]))
        """
        return self.clone()

    def _concat(self, parts: list[Any]) -> Self:
        """A new vector (same class, allocator, policy) holding ``parts`` one after the
        other: vectors of our element type copied as bytes, anything else as values."""
        elem = self._elem
        seqs: list[Any] = []
        total = 0
        for p in parts:
            if isinstance(p, Vec) and p._elem == elem:
                p._alive()
                seqs.append(p)
                total += p._len
            else:
                items = list(p)
                for x in items:
                    elem.validate(x)
                seqs.append(items)
                total += len(items)
        new = self._like([])
        if total:
            new._realloc(total, self._flags)
        for p in seqs:
            n = new._len
            if isinstance(p, Vec):
                new._copy_from(n, p, 0, p._len, "__add__")
                if elem.holds_refs:
                    for x in p._load_many(p._len, "__add__"):
                        elem.incref(x)
                new._len = n + p._len
            else:
                new._store_many(n, p, "__add__")
                new._len = n + len(p)
        return new

    def __add__(self, other: Iterable[T]) -> Self:
        """``v + other``: a new vector of the same class and allocator (``other`` a vector,
        list or tuple). O(len + len(other)).

        >>> KVec(u8, [1]) + [2, 3]
        KVec(u8, [1, 2, 3])
        """
        if not isinstance(other, (Vec, list, tuple)):
            return NotImplemented
        self._alive()
        return self._concat([self, other])

    def __radd__(self, other: list[T]) -> list[T]:
        """``[...] + v``: a list, as the left operand's type decides for ``list + list``.
        O(len + len(other)).

        >>> [0] + KVec(u8, [1])
        [0, 1]
        """
        if not isinstance(other, list):
            return NotImplemented
        return other + self.to_list()

    def __mul__(self, n: int) -> Self:
        """``v * n``: a new vector of ``n`` copies of the elements, allocated once. O(n len).

        >>> KVec(u8, [1, 2]) * 2
        KVec(u8, [1, 2, 1, 2])
        """
        try:
            n = operator.index(n)
        except TypeError:
            return NotImplemented
        self._alive()
        new = self._like([])
        new._repeat_from(self, max(0, n))
        return new

    __rmul__ = __mul__

    def __imul__(self, n: int) -> Self:
        """``v *= n``: repeat in place; ``n <= 0`` clears. O(n len) plus at most one
        reallocation."""
        try:
            n = operator.index(n)
        except TypeError:
            return NotImplemented
        self._alive()
        if n <= 0:
            self.clear()
        elif n > 1 and self._len:
            self._repeat_from(self, n, keep=True)
        return self

    def _repeat_from(self, src: Vec[T, Any], n: int, keep: bool = False) -> None:
        """Make this vector ``n`` copies of ``src``'s elements (``src`` may be this vector,
        with ``keep``: its elements stay as the first copy). One reservation; the bytes are
        copied in bounded steps."""
        m = src._len
        if not m or not n:
            return
        base = m if keep else 0
        self._grow_amortized(self._len, m * n - base, self._flags)
        size, elem = self._elem.size, self._elem
        if src._kasan is not None:
            src._kasan_ok(0, m, False, "__mul__")
        if self._kasan is not None:
            self._kasan_ok(0, m * n, True, "__mul__")
        one = src._read(0, m * size)
        per = max(1, (1 << 20) // len(one))
        block = one * min(n, per)
        done = 1 if keep else 0
        while done < n:
            k = min(per, n - done)
            self._write(done * len(one), block[:k * len(one)])
            done += k
        if elem.holds_refs:
            values = src._load_many(m, "__mul__")
            for _ in range(n - base // m):
                for x in values:
                    elem.incref(x)
        self._len = m * n

    def _cmp_items(self, other: object) -> list[Any] | None:
        if isinstance(other, Vec):
            return other.to_list()
        if isinstance(other, (list, tuple)):
            return list(other)
        return None

    def __lt__(self, other: object) -> bool:
        items = self._cmp_items(other)
        return NotImplemented if items is None else self.to_list() < items

    def __le__(self, other: object) -> bool:
        items = self._cmp_items(other)
        return NotImplemented if items is None else self.to_list() <= items

    def __gt__(self, other: object) -> bool:
        items = self._cmp_items(other)
        return NotImplemented if items is None else self.to_list() > items

    def __ge__(self, other: object) -> bool:
        items = self._cmp_items(other)
        return NotImplemented if items is None else self.to_list() >= items

    def __reversed__(self) -> Iterator[T]:
        """Iterate backwards by position, in blocks as :meth:`__iter__` does. O(len)."""
        self._alive()
        return chain.from_iterable(self._rblocks())

    def _rblocks(self) -> Iterator[Iterator[T]]:
        i, step = self._len, _ITER_FIRST
        while True:
            self._alive()
            i = min(i, self._len)           # as a list's reverse iterator: stop past the end
            if i <= 0:
                return
            start = max(0, i - step)
            yield reversed(self._load_many(i - start, "__reversed__", start))
            i, step = start, min(2 * step, _ITER_MAX)

    def __iadd__(self, values: Iterable[T]) -> Self:
        self.extend(values)
        return self

    def __iter__(self) -> Iterator[T]:
        """Iterate as over a list: by position, so elements appended meanwhile are reached and
        an exhausted iterator stays exhausted. O(len) in all.

        Elements are read in blocks (256, doubling up to 65 536), each one bulk read: a change
        to an element inside the block being consumed is not seen (a list iterator would see
        it); the next block sees it.
        """
        self._alive()
        return chain.from_iterable(self._blocks())

    def _blocks(self) -> Iterator[Iterator[T]]:
        i, step = 0, _ITER_FIRST
        while True:
            self._alive()
            n = self._len
            if i >= n:
                return
            stop = min(n, i + step)
            yield self._iter_many(stop - i, "__iter__", i)
            i, step = stop, min(2 * step, _ITER_MAX)

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

    @reprlib.recursive_repr("[...]")
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
    def _from_elem(cls, elem: Elem[Any], value: Any, n: int, kernel: Kernel | None,
                   flags: GFP) -> Any:
        v = cls(elem, kernel=kernel, flags=flags)
        v.extend_with(n, value, flags)
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
    def from_elem(cls, elem: Elem[U], value: U, n: int, *,  # type: ignore[override]
                  kernel: Kernel | None = None, flags: GFP = _KERNEL) -> KVec[U]:
        """A ``KVec`` of ``n`` copies of ``value``, capacity exactly ``n`` (``kvec![value; n]``)."""
        return cast("KVec[U]", cls._from_elem(elem, value, n, kernel, flags))

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
    def from_elem(cls, elem: Elem[U], value: U, n: int, *,  # type: ignore[override]
                  kernel: Kernel | None = None, flags: GFP = _KERNEL) -> VVec[U]:
        """A ``VVec`` of ``n`` copies of ``value``, capacity exactly ``n`` (``kvec![value; n]``)."""
        return cast("VVec[U]", cls._from_elem(elem, value, n, kernel, flags))

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

    def shrink_to(self, min_capacity: int, flags: GFP = _KERNEL) -> None:
        """Shrink the capacity to ``max(len, min_capacity)``, as Rust-for-Linux's
        ``impl Vec<T, KVmalloc>`` does (``rust/kernel/alloc/kvec.rs``): a kmalloc buffer goes
        through ``kvrealloc``; a vmalloc buffer changes only when the number of pages drops,
        and then the elements are copied into a fresh ``KVmalloc`` allocation (which may be
        kmalloc memory) and the old buffer is freed, because vrealloc did not shrink in place
        when this was written. A target of 0 frees the buffer. AllocError (nothing changed)
        if the new allocation fails. ``KVec`` and ``VVec`` (which upstream has no
        ``shrink_to`` for) resize through ``realloc``.

        >>> k = Kernel(); v = KVVec.with_capacity(u32, 4 << 20, kernel=k); v.push(1)
        >>> v.shrink_to(2 << 20); v.capacity, k.is_vmalloc_addr(v.ptr)   # 16 MiB -> 8 MiB
        (2097152, True)
        >>> v.shrink_to((2 << 20) - 10); v.capacity                       # no page freed
        2097152
        >>> v.shrink_to(0); v.capacity, k.is_vmalloc_addr(v.ptr)         # 4 bytes: kmalloc
        (1, False)
        """
        self._alive()
        require_int("min_capacity", min_capacity, 0)
        flags = _gfp(flags)
        target, cap = max(self._len, min_capacity), self._cap
        if cap <= target:
            return
        if not self._kernel.is_vmalloc_addr(self._ptr):
            self._realloc(target, flags)
            return
        size = self._elem.size
        if -(-cap * size // PAGE_SIZE) <= -(-target * size // PAGE_SIZE):
            return                              # no page would be freed
        if target == 0:
            self._free_buffer()
            return
        self._move_to_fresh(target, self._len, flags)

    @classmethod
    def with_capacity(cls, elem: Elem[U], capacity: int, *,  # type: ignore[override]
                      kernel: Kernel | None = None, flags: GFP = _KERNEL) -> KVVec[U]:
        """An empty ``KVVec`` with room for exactly ``capacity`` elements."""
        return cast("KVVec[U]", cls._with_capacity(elem, capacity, kernel, flags))

    @classmethod
    def from_elem(cls, elem: Elem[U], value: U, n: int, *,  # type: ignore[override]
                  kernel: Kernel | None = None, flags: GFP = _KERNEL) -> KVVec[U]:
        """A ``KVVec`` of ``n`` copies of ``value``, capacity exactly ``n`` (``kvec![value; n]``)."""
        return cast("KVVec[U]", cls._from_elem(elem, value, n, kernel, flags))

    @classmethod
    def from_raw_parts(cls, elem: Elem[U], ptr: int, length: int,  # type: ignore[override]
                       capacity: int, *, kernel: Kernel | None = None) -> KVVec[U]:
        """Take ownership of a ``KVVec`` buffer given away by ``into_raw_parts``.

        Safety: as :meth:`Vec.from_raw_parts`; the buffer must come from a ``KVVec`` on the
        same kernel.
        """
        return cast("KVVec[U]", cls._from_raw_parts(elem, ptr, length, capacity, kernel))


_VEC_FOR: dict[type, type[Vec[Any, Any]]] = {Kmalloc: KVec, Vmalloc: VVec, KVmalloc: KVVec}

__all__ = ["KVVec", "KVec", "SearchResult", "VVec", "Vec", "VecStats"]
