"""A ring-buffer deque on ``VVec``: a double-ended queue whose slots live in vmalloc memory.

The deque's ``cap`` slots are the whole of a ``VVec`` (its length is ``cap``: every slot is
initialised). The elements are the ``len`` slots from ``head`` on, wrapping past the end::

    slot:   0   1   2   3   4   5   6   7
          [ d | e | . | . | . | a | b | c ]      cap 8, head 5, len 5: the deque a b c d e

``push_back`` writes at ``(head + len) % cap`` (slot 2 above), ``push_front`` at
``(head - 1) % cap`` (slot 4); the pops read the ends and move them. Each is O(1) slot reads
and writes through the vector. Indexing is O(1), iteration reads one slot per element.

Growth: when a push finds the ring full, the vector is resized to twice ``cap`` (one
``VVec.resize``, so one ``vrealloc``: in place while the vmalloc area's pages suffice, else
a move that copies the old buffer), then the ring is laid out again. The elements already
sit in the right order in ``[head, cap)`` then ``[0, head)``; whichever of the two runs is
shorter is moved, slot by slot, next to the other (the wrapped run to ``[cap, cap + head)``,
or the front run to the end of the new buffer), as Rust's ``VecDeque`` does. So a growth
costs the kernel's copy (``cap`` elements on a move, none in place) plus at most ``cap / 2``
slot moves; ``n`` pushes cost O(n) in all. The deque never shrinks.

For ``pyobj`` elements a popped slot keeps its object alive until the slot is overwritten.

>>> from kvalloc import Kernel
>>> from containers import u64
>>> d = RingDeque(u64, [2, 3], kernel=Kernel())
>>> d.push_front(1); d.push_back(4); list(d), d[0], d[-1]
([1, 2, 3, 4], 1, 4)
>>> d.pop_front(), d.pop_back(), len(d)
(1, 4, 2)
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Generic, TypeVar

from containers import VVec, u64
from containers.elem import Elem
from examples.events import print_events
from kvalloc import Kernel, ReallocEvent
from kvalloc.alloc import Observer

T = TypeVar("T")

#: The capacity of the first allocation.
MIN_CAPACITY = 4


class RingDeque(Generic[T]):
    """A double-ended queue of ``Elem[T]`` values in a ``VVec`` ring on ``kernel``.

    ``observer``, if given, is attached to the vector's allocator before anything is
    allocated. ``relaid`` counts the slots moved by growth so far (the cost beyond the
    kernel's copy).
    """

    __slots__ = ("_buf", "_cap", "_head", "_len", "_version", "relaid")

    def __init__(self, elem: Elem[T], items: Iterable[T] = (), *, kernel: Kernel,
                 observer: Observer | None = None) -> None:
        self._buf: VVec[T] = VVec(elem, kernel=kernel)
        self._buf.alloc.observer = observer
        self._cap = 0                   # == len(self._buf): every slot is initialised
        self._head = 0
        self._len = 0
        self._version = 0               # bumped by every change, for iteration
        self.relaid = 0
        for x in items:
            self.push_back(x)

    # -- the deque --------------------------------------------------------------------

    def push_back(self, value: T) -> None:
        """Append at the back. O(1), plus a growth when full."""
        if self._len == self._cap:
            self._grow(value)
        self._buf[(self._head + self._len) % self._cap] = value
        self._len += 1
        self._version += 1

    def push_front(self, value: T) -> None:
        """Prepend at the front. O(1), plus a growth when full."""
        if self._len == self._cap:
            self._grow(value)
        self._head = (self._head - 1) % self._cap
        self._buf[self._head] = value
        self._len += 1
        self._version += 1

    def pop_back(self) -> T:
        """Remove and return the back element; IndexError if empty. O(1)."""
        if not self._len:
            raise IndexError("pop from an empty RingDeque")
        self._len -= 1
        self._version += 1
        return self._buf[(self._head + self._len) % self._cap]

    def pop_front(self) -> T:
        """Remove and return the front element; IndexError if empty. O(1)."""
        if not self._len:
            raise IndexError("pop from an empty RingDeque")
        value = self._buf[self._head]
        self._head = (self._head + 1) % self._cap
        self._len -= 1
        self._version += 1
        return value

    def _slot(self, index: int) -> int:
        """The slot of element ``index`` (negative counts from the back); IndexError."""
        n = self._len
        if index < 0:
            index += n
        if not 0 <= index < n:
            raise IndexError("RingDeque index out of range")
        return (self._head + index) % self._cap

    def __getitem__(self, index: int) -> T:
        return self._buf[self._slot(index)]

    def __setitem__(self, index: int, value: T) -> None:
        self._buf[self._slot(index)] = value
        self._version += 1

    def __len__(self) -> int:
        return self._len

    def __iter__(self) -> Iterator[T]:
        """Front to back, one slot read per element; RuntimeError if the deque changes."""
        version = self._version
        for i in range(self._len):
            if self._version != version:
                raise RuntimeError("RingDeque mutated during iteration")
            yield self._buf[(self._head + i) % self._cap]
        if self._version != version:
            raise RuntimeError("RingDeque mutated during iteration")

    def _grow(self, value: T) -> None:
        """Double the ring (``value`` fills the new slots) and lay it out again.

        The resize is one reallocation; the elements stay put, then the shorter of the two
        runs ``[head, cap)`` (the front) and ``[0, head)`` (the wrapped back) is moved so
        the ring is contiguous modulo the new capacity.
        """
        old, head = self._cap, self._head
        new = max(MIN_CAPACITY, 2 * old)
        buf = self._buf
        buf.resize(new, value)          # AllocError: the deque is unchanged
        self._cap = new
        front = old - head              # [head, old): the front run; [0, head): the back
        if head <= front:               # move the back run up, after the front run
            for i in range(head):
                buf[old + i] = buf[i]
        else:                           # move the front run to the end of the new buffer
            dst = new - front
            for i in range(front):
                buf[dst + i] = buf[head + i]
            self._head = dst
        self.relaid += min(head, front)

    # -- inspection and lifetime ------------------------------------------------------

    @property
    def capacity(self) -> int:
        """Slots in the ring."""
        return self._cap

    @property
    def vec(self) -> VVec[T]:
        """The backing vector, in slot order (for inspection)."""
        return self._buf

    @property
    def observer(self) -> Observer | None:
        """The allocator's observer: called with one ``ReallocEvent`` per reallocation."""
        return self._buf.alloc.observer

    @observer.setter
    def observer(self, observer: Observer | None) -> None:
        self._buf.alloc.observer = observer

    def __repr__(self) -> str:
        return f"RingDeque({self._buf.elem.name}, {list(self)})"

    def drop(self) -> None:
        """Free the ring now; the deque is unusable afterwards."""
        self._buf.drop()
        self._cap = self._head = self._len = 0

    def __enter__(self) -> RingDeque[T]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.drop()

    def _check(self) -> None:
        """Raise AssertionError (KernelBug for the vector's own invariants) if broken. O(cap)."""
        self._buf._check()
        assert len(self._buf) == self._cap, f"ring of {self._cap} slots, vector of {len(self._buf)}"
        assert 0 <= self._len <= self._cap, f"len {self._len}, capacity {self._cap}"
        assert self._cap == 0 or 0 <= self._head < self._cap, f"head {self._head}, cap {self._cap}"


def main() -> None:
    """Fill a deque from both ends past a page, drain it; print what the allocator did."""
    kernel = Kernel()
    start = kernel.stats()
    events: list[ReallocEvent] = []
    d = RingDeque(u64, kernel=kernel, observer=events.append)
    for i in range(1000):               # a queue that keeps its front moving
        d.push_back(i)
        if i % 3 == 0:
            d.push_front(d.pop_back() + 1_000_000)
        if i % 4 == 0:
            d.pop_front()
    print(f"RingDeque(u64) on VVec: {len(d)} elements, capacity {d.capacity}, "
          f"{d.relaid} slots moved by growth")
    print_events(events)
    front = [d[i] for i in range(3)]
    while len(d) > 3:
        d.pop_front()
    print(f"front was {front}, last three {list(d)}; popping never allocates")
    events.clear()
    d.drop()
    print("drop:")
    print_events(events)
    kernel.vm_unmap_aliases()           # vfree is lazy: purge to see the pages come back
    kernel.check()
    end = kernel.stats()
    print(f"after drop and purge: free pages {end.free_pages}, vmalloc pages "
          f"{end.nr_vmalloc_pages}, vmap areas {end.vmap_areas} "
          f"(at start {start.free_pages}, {start.nr_vmalloc_pages}, {start.vmap_areas})")


if __name__ == "__main__":
    main()
