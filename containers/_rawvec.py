"""The buffer under every ``Vec``: pointer, capacity, layout, realloc and the fast-path views.

This is Rust's ``RawVec`` (``library/alloc/src/raw_vec.rs``; Rust-for-Linux keeps the same
fields inside ``kvec.rs``). It knows the element type and the allocator, never a length:
``Vec`` owns the length and the meaning of the elements, ``RawVec`` owns the bytes.

The buffer changes only through :meth:`RawVec._realloc`, which calls
``alloc.realloc_counted`` (so krealloc, vrealloc or kvrealloc) and never copies by itself,
and :meth:`RawVec._move_to_fresh`, the allocate-copy-free of ``KVVec.shrink_to`` on a vmalloc
buffer, as Rust-for-Linux does it.
After every change :meth:`RawVec._set_buffer` rebuilds the views: it is the one place the
cached fields below are written, so they cannot disagree with the pointer.

Invariants (checked one for one by :meth:`RawVec._check_buffer`):
    - R1: ``capacity == 0`` exactly when no memory is owned, and then ``ptr`` is the dangling
      pointer of the element's alignment;
    - R2: otherwise ``ptr`` is aligned to the element and the kernel holds ``capacity * size``
      bytes there: inside one live kmalloc object, or the mapped pages of one vmalloc area;
    - R3: the views, when present, cover exactly those bytes; the fast room ``_room`` is -1
      (no fast path), or at most the end ``_tend`` of the push run (``_tmv``: a typed view
      of slots ``_tbase ..``), which is the capacity for a flat buffer and the end of the
      physically contiguous run being filled for a paged one; with KASAN off and a flat
      buffer the room is the capacity; the push view ``_tpush`` is ``_tmv`` cut to slots
      ``[_tbase, _room)`` (None when that is empty); the push fast path is on (one of
      ``_push_flags`` and ``_push_run_flags`` is ``GFP.KERNEL``, the second when ``_tbase``
      is not 0) only when the buffer has a raw typed view and, with KASAN on, the room
      was checked at the shadow's current generation with a change callback pending (the
      shadow turns the fast path off when it changes, :meth:`RawVec._kasan_stale`, so a
      push compares no generations); it is on whenever that holds, except from a slow
      push that filled the buffer until a later push finds room (a speed property, not
      checked: only "on" is unsafe when wrong); the owner's length is at least ``_tbase``
      while the room is positive (:meth:`RawVec._release` keeps this when the length
      drops), so a push's index into ``_tpush`` is never negative;
    - R4: the counters only grow: ``reallocs >= in_place + moved`` and ``bytes_copied >= 0``.

Why ``Vec`` inherits ``RawVec`` rather than holding one: ``push`` reads the push flags
and the push view on every call, and one more attribute hop costs about 7% of
a push (measured with ``timeit`` on CPython 3.11). The two classes still have separate jobs
and separate modules; ``Vec`` touches the buffer only through the methods below.
"""

from __future__ import annotations

import array
import dataclasses
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Final, Generic, cast

from kvalloc.alloc import Allocator, Layout
from kvalloc.constants import NUMA_NO_NODE, PAGE_SHIFT, PAGE_SIZE
from kvalloc.errors import AllocError, KernelBug, LayoutError
from kvalloc.gfp import GFP

from ._typing import A, T
from .elem import Elem
from .growth import Growth, GrowthPolicy
from .view import Exports

if TYPE_CHECKING:
    from kvalloc.kernel import Kernel
    from kvalloc.mm.access import DirectView, ShadowClock

_ARRAY_CODES = frozenset("BHIQbhiqfd")
_FILL_CHUNK = 1 << 20          # bytes written per step when filling (resize)
_TAG_MASK = 0xff << 56         # the pointer tag of KASAN sw_tags: all ones when untagged


@dataclasses.dataclass(frozen=True)
class VecStats:
    """What a vector's buffer went through: reallocations, in place or moved, bytes copied.

    ``reallocs`` counts every call into the allocator (the first allocation and a shrink to
    nothing included); ``in_place`` and ``moved`` count only the resizes of a live buffer.
    """

    reallocs: int
    in_place: int
    moved: int
    bytes_copied: int


#: The push fast path's flags when the buffer has none: a sentinel no caller passes.
_NO_FAST_PUSH: Final = object()
_KERNEL: Final = GFP.KERNEL

#: Classes that declare :class:`Allocator` as a base, seen by ``_init_buffer``.
_NOMINAL_ALLOCATORS: set[type] = set()


@dataclasses.dataclass
class _Counters:
    __slots__ = ("reallocs", "in_place", "moved", "bytes_copied")
    reallocs: int
    in_place: int
    moved: int
    bytes_copied: int


def _cast(view: memoryview, fmt: str) -> Any:
    """``view.cast(fmt)`` for a format known only at run time."""
    v: Any = view
    return v.cast(fmt)


class _Paged:
    """Typed element access over per-page views (frames not physically contiguous).

    Each page is cast on first use, so untouched capacity costs no host memory.
    """

    __slots__ = ("pages", "base", "sh", "mask")

    def __init__(self, view: DirectView, fmt: str, first: int, per_page: int) -> None:
        self.pages = view.typed_pages(fmt).cache
        self.base = first
        self.sh = per_page.bit_length() - 1
        self.mask = per_page - 1

    def __getitem__(self, i: int) -> Any:
        j = i + self.base
        return self.pages[j >> self.sh][j & self.mask]

    def __setitem__(self, i: int, value: Any) -> None:
        j = i + self.base
        self.pages[j >> self.sh][j & self.mask] = value


class RawVec(Generic[T, A]):
    """A buffer of ``capacity`` slots of ``Elem[T]`` in simulated memory, allocated by ``A``.

    Element indices below are slot indices; whether a slot is initialised is the owner's
    business. Reads and writes with KASAN on are checked exactly as ``Kernel.read`` /
    ``Kernel.write`` would check them.
    """

    __slots__ = ("_elem", "_alloc", "_growth", "_kernel", "_ptr", "_cap", "_view", "_mv",
                 "_flat", "_room", "_kasan", "_kgen", "_stats", "_elay", "_lay",
                 "_lay_cap", "_tmv", "_tbase", "_tend", "_tpush", "_push_flags",
                 "_push_run_flags", "_kwatch", "_exports")

    _alias = "RawVec"
    _view: DirectView | None
    _mv: Any
    _tmv: Any
    _tpush: Any
    _flat: memoryview | None

    def _init_buffer(self, elem: Elem[T], alloc: A, growth: GrowthPolicy) -> None:
        """An empty buffer (capacity 0, dangling pointer); validates the three parts."""
        if not isinstance(elem, Elem):
            raise TypeError(f"elem must be an element type such as u32, not {type(elem).__name__}")
        if elem.size == 0:
            raise ValueError("zero-sized element types are not supported")
        t = type(alloc)
        if t not in _NOMINAL_ALLOCATORS:        # a Protocol isinstance costs microseconds
            if not isinstance(alloc, Allocator):
                raise TypeError(f"alloc must be an Allocator, not {type(alloc).__name__}")
            if Allocator in t.__mro__:          # declared: every instance is one
                _NOMINAL_ALLOCATORS.add(t)
        if not callable(growth):
            raise TypeError(f"growth must be a policy callable, not {type(growth).__name__}")
        self._elem = elem
        self._alloc = alloc
        self._growth = growth
        self._kernel: Kernel = alloc.kernel
        self._stats = _Counters(0, 0, 0, 0)
        self._ptr, self._view = 0, None
        self._exports: Exports | None = None
        self._elay = Layout(elem.size, elem.align)
        self._lay, self._lay_cap = self._elay, -1
        self._kwatch = False        # a KASAN change callback is pending (_kasan_stale)
        self._set_buffer(Layout(0, elem.align).dangling(), 0)

    # -- the buffer -----------------------------------------------------------------

    def _layout(self, cap: int) -> Layout:
        """The layout of ``cap`` elements; LayoutError if it overflows. The last one is kept:
        a resize asks for the old capacity's layout and then the new one's."""
        if cap == self._lay_cap:
            return self._lay
        lay = Layout.array(self._elay, cap)
        self._lay, self._lay_cap = lay, cap
        return lay

    def _unmap(self) -> None:
        """Forget every view of the buffer: the fast paths then see no room."""
        self._view = self._mv = self._flat = self._tmv = self._tpush = None
        self._kasan: ShadowClock | None = None
        self._room = self._kgen = self._tend = -1
        self._tbase = 0
        self._push_flags: object = _NO_FAST_PUSH
        self._push_run_flags: object = _NO_FAST_PUSH

    def _fast_push(self, on: bool) -> None:
        """Turn the push fast path on or off. On, exactly one of ``_push_flags`` (the push
        run starts at slot 0: a push stores at ``_tpush[n]``) and ``_push_run_flags`` (a
        later run of a paged buffer: at ``_tpush[n - _tbase]``) is GFP.KERNEL, so a flat
        buffer's push pays no subtraction; off, both are the sentinel no caller passes."""
        if not on:
            self._push_flags = self._push_run_flags = _NO_FAST_PUSH
        elif self._tbase:
            self._push_flags, self._push_run_flags = _NO_FAST_PUSH, _KERNEL
        else:
            self._push_flags, self._push_run_flags = _KERNEL, _NO_FAST_PUSH

    def _may_push_fast(self) -> bool:
        """Whether the push fast path may be on (R3): a raw typed view and, with KASAN on,
        a room checked at the shadow's current generation with a change callback pending."""
        kasan = self._kasan
        return self._mv is not None and self._elem.raw_ok and (
            kasan is None or self._kwatch and self._kgen == kasan.generation)

    def _set_room(self, room: int) -> None:
        """Set the fast room and the push view ``_tpush``: the push run's slots
        ``[_tbase, room)`` (None when that is empty). A push stores at ``_tpush[n - _tbase]``
        without comparing ``n`` to the room: the view's own bounds do it. O(1)."""
        self._room = room
        tmv, base = self._tmv, self._tbase
        self._tpush = tmv[:room - base] if tmv is not None and room > base else None

    def _set_buffer(self, ptr: int, cap: int) -> None:
        """Own ``cap`` slots at ``ptr`` and rebuild the views (the only writer of the caches).

        A host failure while building the views (no address space for a contents chunk)
        leaves no views: every access then goes through the kernel's read and write.
        """
        old = self._view if ptr == self._ptr else None     # resized in place: same frames
        old_mv = self._mv if old is not None else None
        self._ptr, self._cap = ptr, cap
        self._unmap()
        if cap == 0:
            return
        elem, size = self._elem, self._elem.size
        try:
            view = self._kernel.direct_view(ptr, cap * size, old)
            mv: Any = None
            fmt = elem.fmt
            if fmt is not None:
                if view.flat is not None:
                    mv = _cast(view.flat, fmt)
                elif type(old_mv) is _Paged and view is old:
                    mv = old_mv            # resized in place: the same view, whose page
                                           # caches (old_mv's among them) carry over
                elif PAGE_SIZE % size == 0 and view.offset % size == 0:
                    mv = _Paged(view, fmt, view.offset // size, PAGE_SIZE // size)
        except (MemoryError, OSError):
            return
        self._view, self._flat, self._kasan, self._mv = view, view.flat, view.shadow, mv
        if mv is None or not elem.raw_ok:
            return
        if view.shadow is None:
            self._push_flags = _KERNEL      # _fast_push(True) at _tbase 0; with KASAN, the
                                            # first check of the room turns it on
        if type(mv) is _Paged:
            self._tend = 0                  # no push run yet: the first push picks one
            if view.shadow is None:
                self._set_room(0)
        else:
            self._tmv, self._tend = mv, cap
            if view.shadow is None:
                self._set_room(cap)

    def _retarget(self, i: int) -> None:
        """Make the physically contiguous run holding slot ``i`` the push run (a paged
        buffer with a fast path only). O(pages of the run)."""
        view, mv = self._view, self._mv
        if view is None or type(mv) is not _Paged or self._tend < 0 or not 0 <= i < self._cap:
            return
        size = self._elem.size
        page = (view.offset + i * size) >> PAGE_SHIFT
        got, run = view.run_view(page)
        base = ((page << PAGE_SHIFT) - view.offset) // size
        self._tmv = _cast(run, cast(str, self._elem.fmt))
        self._tbase = base
        self._tend = min(self._cap, base + (got << PAGE_SHIFT) // size)
        if self._kasan is None:
            self._set_room(self._tend)
            self._fast_push(True)
        else:
            self._kgen = -1
            self._fast_push(False)
            self._set_room(-1)              # the next KASAN check sets the room

    def _realloc(self, new_cap: int, flags: GFP) -> None:
        """Resize to ``new_cap`` slots through the allocator.

        Atomic: AllocError (a refused request or a capacity overflow) changes nothing.
        """
        if self._exports:
            self._exports.release(self._alias)
        old_cap = self._cap
        old_layout = self._layout(old_cap)          # usually the kept one: no new Layout
        try:
            new_layout = self._layout(new_cap)
        except LayoutError:
            raise AllocError(f"{self._alias}: capacity overflow ({new_cap} elements of "
                             f"{self._elem.size} bytes)") from None
        ptr = None if old_cap == 0 else self._ptr
        new_ptr, copied = self._alloc.realloc_counted(ptr, new_layout, old_layout, flags,
                                                      NUMA_NO_NODE)
        st = self._stats
        st.reallocs += 1
        if old_cap and new_cap:
            if new_ptr == self._ptr:
                st.in_place += 1
            else:
                st.moved += 1
                st.bytes_copied += copied
        if new_cap == 0:
            new_ptr = Layout(0, self._elem.align).dangling()
        self._set_buffer(new_ptr, new_cap)

    def _move_to_fresh(self, new_cap: int, keep: int, flags: GFP) -> None:
        """Copy the buffer's first ``keep`` slots into a fresh allocation of ``new_cap`` slots
        and free the old one (``KVVec.shrink_to`` on a vmalloc buffer, after Rust-for-Linux):
        the one place a vector copies its own bytes. Atomic: AllocError changes nothing."""
        if self._exports:
            self._exports.release(self._alias)
        old_ptr, old_layout = self._ptr, Layout.array(self._elay, self._cap)
        new_ptr = self._alloc.alloc(self._layout(new_cap), flags)
        nbytes = keep * self._elem.size
        if nbytes:
            self._kernel.memcpy(new_ptr, old_ptr, nbytes)
        self._alloc.free(old_ptr, old_layout)
        st = self._stats
        st.reallocs += 2                         # an allocation and a free
        st.moved += 1
        st.bytes_copied += nbytes
        self._set_buffer(new_ptr, new_cap)

    def _grow_amortized(self, length: int, additional: int, flags: GFP) -> None:
        """Make room for ``additional`` slots after ``length``, by the growth policy."""
        cap = self._cap
        if cap - length >= additional:
            return
        required = length + additional
        growth = self._growth
        if type(growth) is Growth:
            growth = growth.fn               # a named policy: its function, not the forwarder
        new_cap = growth(cap, required, self._elem.size)
        if type(new_cap) is not int or new_cap < required:
            raise ValueError(f"growth policy returned {new_cap!r}, less than {required}")
        self._realloc(new_cap, flags)

    def _free_buffer(self) -> None:
        """Give the memory back to the allocator; the buffer is then empty."""
        if self._exports:
            self._exports.release(self._alias)
        if self._cap:
            self._alloc.free(self._ptr, self._layout(self._cap))
        self._set_buffer(Layout(0, self._elem.align).dangling(), 0)

    # -- bytes ------------------------------------------------------------------------

    def _kasan_ok(self, i: int, n: int, write: bool, label: str) -> None:
        """KASAN-check slots ``[i, i + n)`` and refresh the fast room (KASAN on only)."""
        view, shadow = self._view, self._kasan
        if view is None or shadow is None or n <= 0:
            return
        size = self._elem.size
        view.check_access(i * size, n * size, write, label)
        gen = shadow.generation
        if self._mv is not None and self._elem.raw_ok and gen != self._kgen:
            self._kgen = gen
            self._set_room(min(self._tend, view.room() // size))
            if not self._kwatch:            # flag first: the callback may run at once
                self._kwatch = True         # (another thread changing the shadow)
                shadow.on_next_change(self._kasan_stale)
            if shadow.generation == gen:    # registered before any later change: on until
                self._fast_push(True)       # the callback; else the next check redoes it

    def _kasan_stale(self) -> None:
        """The shadow changed: the fast room may no longer be clear, so the push fast path is
        off until the next KASAN check recomputes it (a callback of the shadow's)."""
        self._kwatch = False
        self._fast_push(False)

    def _read(self, off: int, n: int) -> bytes:
        """``n`` bytes at byte offset ``off`` (unchecked when a view exists)."""
        flat = self._flat
        if flat is not None:
            return flat[off:off + n].tobytes()
        view = self._view
        if view is None:
            return self._kernel.read(self._ptr + off, n) if n else b""
        out = bytearray()
        a = view.offset + off
        while n > 0:                                  # a physically contiguous run at a time
            p, o = divmod(a, PAGE_SIZE)
            got, run = view.run_view(p, (o + n + PAGE_SIZE - 1) >> PAGE_SHIFT)
            k = min(n, (got << PAGE_SHIFT) - o)
            out += run[o:o + k]
            a, n = a + k, n - k
        return bytes(out)

    def _write(self, off: int, data: bytes | memoryview) -> None:
        """Write ``data`` at byte offset ``off`` (unchecked when a view exists)."""
        flat = self._flat
        if flat is not None:
            flat[off:off + len(data)] = data
            return
        view = self._view
        if view is None:
            if len(data):
                self._kernel.write(self._ptr + off, data)
            return
        src = memoryview(data).cast("B")
        a = view.offset + off
        pos, n = 0, len(src)
        while n > 0:                                  # a physically contiguous run at a time
            p, o = divmod(a, PAGE_SIZE)
            got, run = view.run_view(p, (o + n + PAGE_SIZE - 1) >> PAGE_SHIFT)
            k = min(n, (got << PAGE_SHIFT) - o)
            run[o:o + k] = src[pos:pos + k]
            a, pos, n = a + k, pos + k, n - k

    def _memmove(self, dst: int, src: int, n: int) -> None:
        """Move ``n`` slots from ``src`` to ``dst`` (overlap allowed)."""
        if n > 0 and dst != src:
            size = self._elem.size
            self._write(dst * size, self._read(src * size, n * size))

    # -- slots --------------------------------------------------------------------------

    def _load(self, i: int, label: str = "load") -> T:
        """The value in slot ``i``."""
        if self._kasan is not None:
            self._kasan_ok(i, 1, False, label)
        mv = self._mv
        if mv is not None:
            v: T = mv[i]
            return v
        size = self._elem.size
        return self._elem.unpack(self._read(i * size, size))

    def _load_many(self, n: int, label: str, start: int = 0, step: int = 1) -> list[T]:
        """The values in slots ``start, start + step, ...`` below ``start + n``, read in
        bulk: O(n) at C speed (one ``tolist`` per page when the frames are not one run)."""
        if n <= 0:
            return []
        if self._kasan is not None:
            self._kasan_ok(start, n, False, label)
        mv = self._mv
        stop = start + n
        if isinstance(mv, memoryview):
            return cast(list[T], mv[start:stop:step].tolist())
        if type(mv) is _Paged:
            out: list[Any] = []
            pages, sh, mask = mv.pages, mv.sh, mv.mask
            j, end = start + mv.base, stop + mv.base
            while j < end:
                p, o = j >> sh, j & mask
                k = min(end - j, mask + 1 - o)
                out += pages[p][o:o + k].tolist()
                j += k
            return out if step == 1 else out[::step]
        if mv is not None:
            return [mv[i] for i in range(start, stop, step)]
        elem, size = self._elem, self._elem.size
        data = self._read(start * size, n * size)
        return [elem.unpack(data[i * size:(i + 1) * size]) for i in range(0, n, step)]

    def _iter_many(self, n: int, label: str, start: int = 0) -> Iterator[T]:
        """An iterator over a snapshot of slots ``[start, start + n)``: one bulk copy of the
        bytes, the values made one by one as they are taken (about half the cost of a list)."""
        elem, mv = self._elem, self._mv
        if n <= 0 or mv is None or not elem.raw_ok:
            return iter(self._load_many(n, label, start))
        if self._kasan is not None:
            self._kasan_ok(start, n, False, label)
        snapshot = memoryview(self._read(start * elem.size, n * elem.size))
        return iter(cast("Iterator[T]", _cast(snapshot, cast(str, elem.fmt))))

    def _store(self, i: int, value: T, label: str = "store", validated: bool = False) -> None:
        """Validate (unless ``validated``) and write one value into slot ``i`` (no reference
        bookkeeping)."""
        elem = self._elem
        if not validated:
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
        """Write validated ``items`` from slot ``start``; increfs pyobj values unless they
        are already held (``incref=False``)."""
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

    def _fill(self, start: int, n: int, value: T, label: str) -> None:
        """Write ``n`` copies of validated ``value`` from slot ``start``, in bounded steps."""
        if n <= 0:
            return
        elem = self._elem
        if self._kasan is not None:
            self._kasan_ok(start, n, True, label)
        one = elem.pack(value)
        per = max(1, _FILL_CHUNK // len(one))
        block = one * min(n, per)
        off, left = start * len(one), n
        while left >= per:
            self._write(off, block)
            off, left = off + len(block), left - per
        if left:
            self._write(off, block[:left * len(one)])
        if elem.holds_refs:
            for _ in range(n):
                elem.incref(value)

    def _release(self, start: int, stop: int, decref: bool = True) -> None:
        """Drop the references held by slots ``[start, stop)`` (pyobj only; ``decref=False``
        when they were handed to another owner).

        Every decrease of the owner's length goes through here first, with ``start`` at
        most the new length: a push run starting past it is dropped, so that the push fast
        path (``_tpush[n - _tbase]``: a negative index would wrap) only ever stores inside
        its run.
        """
        if start < self._tbase:
            self._tend = 0
            if self._room > 0:
                self._set_room(0)
        elem = self._elem
        if decref and elem.holds_refs and stop > start:
            size = elem.size
            data = self._read(start * size, (stop - start) * size)
            for i in range(stop - start):
                elem.decref_raw(data[i * size:(i + 1) * size])

    # -- invariants ---------------------------------------------------------------------

    def _check_buffer(self) -> None:
        """Raise KernelBug naming the first of R1-R4 (module docstring) that is broken."""
        cap, ptr, elem = self._cap, self._ptr, self._elem
        name = self._alias
        dangling = Layout(0, elem.align).dangling()
        if type(cap) is not int or cap < 0:
            raise KernelBug(f"{name} R1: capacity {cap!r} is not an int >= 0")
        if cap == 0:
            if ptr != dangling:
                raise KernelBug(f"{name} R1: capacity 0 but ptr {ptr:#x} is not dangling "
                                f"({dangling:#x})")
        else:
            check_owned(self._kernel, ptr, cap * elem.size, elem.align, f"{name} R2")
        view = self._view
        if view is not None and (view.addr != ptr or view.size != cap * elem.size):
            raise KernelBug(f"{name} R3: the view covers {view.size} bytes at {view.addr:#x}, "
                            f"the buffer {cap * elem.size} at {ptr:#x}")
        room, tend, tbase, tmv = self._room, self._tend, self._tbase, self._tmv
        if room != -1:
            if self._mv is None or not elem.raw_ok or not 0 <= room <= tend <= cap:
                raise KernelBug(f"{name} R3: fast room {room} without a raw view of {cap} slots")
            if room > 0 and (tmv is None or room - tbase > len(tmv)):
                raise KernelBug(f"{name} R3: fast room {room} past the push run's view")
        elif view is not None and self._mv is not None and elem.raw_ok and self._kasan is None:
            raise KernelBug(f"{name} R3: KASAN is off but the fast room is unset")
        tpush = self._tpush
        if (tpush is None) != (tmv is None or room <= tbase) or (
                tpush is not None and len(tpush) != room - tbase):
            raise KernelBug(f"{name} R3: the push view does not cover exactly the slots "
                            f"{tbase}..{room}")
        raw = self._mv is not None and elem.raw_ok
        kasan = self._kasan
        flags = (self._push_flags, self._push_run_flags)
        on = _KERNEL in flags
        if on and not self._may_push_fast():
            why = ("lacks a raw typed view" if not raw else
                   f"has a KASAN room of generation {self._kgen} (shadow at "
                   f"{cast('ShadowClock', kasan).generation}, "
                   f"{'a' if self._kwatch else 'no'} change callback pending)")
            raise KernelBug(f"{name} R3: the push fast path is on but the buffer {why}")
        if on and flags != ((_NO_FAST_PUSH, _KERNEL) if tbase else (_KERNEL, _NO_FAST_PUSH)):
            raise KernelBug(f"{name} R3: the push fast path for a run from slot {tbase} is "
                            f"not the {'later run' if tbase else 'slot 0'} one")
        if not on and flags != (_NO_FAST_PUSH, _NO_FAST_PUSH):
            raise KernelBug(f"{name} R3: the push flags {flags} are neither on nor off")
        if self._flat is not None and self._kasan is None and self._mv is not None and \
                elem.raw_ok and room != cap:
            raise KernelBug(f"{name} R3: a flat buffer's fast room {room} is not its capacity "
                            f"{cap}")
        st = self._stats
        if st.reallocs < st.in_place + st.moved or min(st.in_place, st.moved, st.bytes_copied) < 0:
            raise KernelBug(f"{name} R4: counters {st}")


def check_owned(k: Kernel, ptr: int, size: int, align: int, label: str) -> None:
    """KernelBug(``label``: ...) unless ``[ptr, ptr + size)`` lies, aligned to ``align``, in
    one live kmalloc object or in the mapped pages of one vmalloc area of ``k``."""
    if ptr % align:
        raise KernelBug(f"{label}: ptr {ptr:#x} is not aligned to {align}")
    if k.is_vmalloc_addr(ptr):
        area = k.find_vm_area(ptr)
        if area is None:
            raise KernelBug(f"{label}: no vmalloc area holds ptr {ptr:#x}")
        start = (ptr | _TAG_MASK) - (area.addr | _TAG_MASK)
        if start + size > area.nr_pages * PAGE_SIZE:
            raise KernelBug(f"{label}: {size} bytes at {ptr:#x} run past the "
                            f"{area.nr_pages} mapped pages of the area at {area.addr:#x}")
        return
    try:
        have = k.ksize(ptr)
    except KernelBug:
        raise KernelBug(f"{label}: ptr {ptr:#x} is not a live kmalloc object") from None
    if have < size:
        raise KernelBug(f"{label}: the kmalloc object at {ptr:#x} holds {have} bytes, "
                        f"{size} are needed")
