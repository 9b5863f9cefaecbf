"""A binary min-heap on ``KVec``: a priority queue whose array lives in kmalloc memory.

The heap is the classic implicit tree: slot ``i`` has its children at ``2i + 1`` and
``2i + 2``, and no child is smaller than its parent, so the minimum is slot 0. Every slot is
read and written through the vector (``vec[i]``, ``vec[i] = x``), so each comparison costs a
load from simulated memory.

Operations:
    - ``push``: append, then sift up; O(log n) slot reads and writes, amortised O(1)
      allocation;
    - ``pop``: move the last element to the root, then sift down; O(log n); never allocates
      (the capacity is kept: ``vec.shrink_to_fit()`` gives it back);
    - ``peek``: slot 0; O(1);
    - ``BinaryHeap(elem, items)``: one allocation of exactly ``len(items)`` elements, then
      Floyd's heapify, O(n).

Growth cost: the ``KVec`` doubles its capacity when full (``RUST_KVEC``), so ``n`` pushes
make about ``log2(n)`` reallocations. Each is one ``krealloc``, which stays in place only
while the new size fits the kmalloc object it already has (``ksize``). A doubling from a
power of two never fits, so every resize moves and copies the whole old buffer: the bytes
copied add up to less than the final buffer (the ``main()`` below: 100 pushes of ``u64``, 7
moves, 1016 bytes copied for a 1024-byte buffer), about one extra copy of each element.

>>> from kvalloc import Kernel
>>> from containers import u64
>>> h = BinaryHeap(u64, [5, 1, 4], kernel=Kernel())
>>> h.push(2); h.peek(), [h.pop() for _ in range(len(h))]
(1, [1, 2, 4, 5])
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from typing import Any, Generic, Protocol, TypeVar

from containers import KVec, u64
from containers.elem import Elem
from examples.events import print_events
from kvalloc import Kernel, ReallocEvent
from kvalloc.alloc import Observer


class _Ordered(Protocol):
    def __lt__(self, other: Any, /) -> bool: ...


OrdT = TypeVar("OrdT", bound=_Ordered)


class BinaryHeap(Generic[OrdT]):
    """A min-heap of ``Elem[OrdT]`` values in a ``KVec`` on ``kernel``.

    ``observer``, if given, is attached to the vector's allocator before anything is
    allocated, so it sees every reallocation (:attr:`observer` changes it later).
    """

    __slots__ = ("_vec",)

    def __init__(self, elem: Elem[OrdT], items: Iterable[OrdT] = (), *, kernel: Kernel,
                 observer: Observer | None = None) -> None:
        self._vec: KVec[OrdT] = KVec(elem, kernel=kernel)
        self._vec.alloc.observer = observer
        values = list(items)
        if values:
            self._vec.extend_from_slice(values)     # one allocation, exactly len(values)
            for i in reversed(range(len(values) // 2)):
                self._sift_down(i)

    # -- the heap ---------------------------------------------------------------------

    def push(self, value: OrdT) -> None:
        """Add ``value``. O(log n), plus a reallocation when the vector is full."""
        self._vec.push(value)
        self._sift_up(len(self._vec) - 1)

    def pop(self) -> OrdT:
        """Remove and return the smallest element; IndexError if empty. O(log n)."""
        v = self._vec
        if not len(v):
            raise IndexError("pop from an empty BinaryHeap")
        last = v.pop()
        if not len(v):
            return last
        top = v[0]
        v[0] = last
        self._sift_down(0)
        return top

    def peek(self) -> OrdT:
        """The smallest element, left in place; IndexError if empty. O(1)."""
        if not len(self._vec):
            raise IndexError("peek at an empty BinaryHeap")
        return self._vec[0]

    def _sift_up(self, i: int) -> None:
        """Move the element at ``i`` up until its parent is not larger (one write per level)."""
        v = self._vec
        item = v[i]
        while i > 0:
            parent = (i - 1) >> 1
            above = v[parent]
            if not item < above:
                break
            v[i] = above
            i = parent
        v[i] = item

    def _sift_down(self, i: int) -> None:
        """Move the element at ``i`` down until no child is smaller (one write per level)."""
        v = self._vec
        n = len(v)
        item = v[i]
        while True:
            child = 2 * i + 1
            if child >= n:
                break
            smaller = v[child]
            if child + 1 < n:
                right = v[child + 1]
                if right < smaller:
                    child, smaller = child + 1, right
            if not smaller < item:
                break
            v[i] = smaller
            i = child
        v[i] = item

    # -- inspection and lifetime ------------------------------------------------------

    def __len__(self) -> int:
        return len(self._vec)

    def __repr__(self) -> str:
        return f"BinaryHeap({self._vec.elem.name}, {self._vec.to_list()})"

    @property
    def vec(self) -> KVec[OrdT]:
        """The backing vector, in heap order (for inspection: changing it breaks the heap)."""
        return self._vec

    @property
    def observer(self) -> Observer | None:
        """The allocator's observer: called with one ``ReallocEvent`` per reallocation."""
        return self._vec.alloc.observer

    @observer.setter
    def observer(self, observer: Observer | None) -> None:
        self._vec.alloc.observer = observer

    def drop(self) -> None:
        """Free the vector now; the heap is unusable afterwards."""
        self._vec.drop()

    def __enter__(self) -> BinaryHeap[OrdT]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.drop()

    def _check(self) -> None:
        """Raise AssertionError (KernelBug for the vector's own invariants) if broken. O(n)."""
        self._vec._check()
        items = self._vec.to_list()
        for i in range(1, len(items)):
            parent = (i - 1) >> 1
            assert not items[i] < items[parent], \
                f"heap order: slot {i} ({items[i]!r}) < its parent {parent} ({items[parent]!r})"


def main() -> None:
    """Push 100 values, pop them all, heapify 100 more; print what the allocator did."""
    kernel = Kernel()
    start = kernel.stats()
    rng = random.Random(0)
    values = [rng.randrange(1000) for _ in range(100)]

    events: list[ReallocEvent] = []
    heap = BinaryHeap(u64, kernel=kernel, observer=events.append)
    for x in values:
        heap.push(x)
    print(f"BinaryHeap(u64) on KVec: {len(values)} pushes, capacity {heap.vec.capacity}")
    print_events(events)
    popped = [heap.pop() for _ in range(len(heap))]
    assert popped == sorted(values)
    print(f"popped in order: {popped[:8]} ... {popped[-3:]} (no event: pop never allocates)")
    events.clear()
    heap.drop()
    print("drop:")
    print_events(events)

    events.clear()
    heap = BinaryHeap(u64, values, kernel=kernel, observer=events.append)
    print(f"BinaryHeap(u64, 100 values): heapify in one allocation, min {heap.peek()}")
    heap._check()
    heap.drop()
    print_events(events)

    kernel.check()
    end = kernel.stats()
    print(f"after drop: free pages {end.free_pages}, slab pages {end.slab_pages} "
          f"(at start {start.free_pages}, {start.slab_pages})")


if __name__ == "__main__":
    main()
