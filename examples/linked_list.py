"""A singly linked list of ``KBox`` nodes: one kmalloc object per element.

Each node is a ``KBox`` holding ``NODE = Struct("<QQ")``, ``(value, next)``: a ``u64`` and
the raw address of the next node (0 ends the list). The list owns its nodes the way a Rust
list of ``Option<KBox<Node>>`` does, with the boxes given away as raw pointers:

- ``push_front`` allocates the node and keeps only ``node.into_raw()``, its address;
- ``pop_front`` takes the node back with ``KBox.from_raw`` and frees it with
  ``into_inner()`` (kfree), so every node allocated is freed exactly once;
- walking the list (iteration, ``peek_front``, :meth:`_check`) borrows a node: ``from_raw``
  and, once read, ``into_raw`` again, so the walk frees nothing (Rust's ``&*ptr``);
- ``clear`` pops node by node, in a loop rather than a recursion (so a long list cannot
  overflow the stack when it is dropped, the reason Rust's ``LinkedList`` has its own
  ``Drop``).

Operations: ``push_front``, ``pop_front``, ``peek_front`` and ``len`` are O(1); iteration is
O(n), one 16-byte read per node.

Growth cost: there is no growth. Each push is one ``kmalloc(16)`` (a ``fresh`` event, from
the ``kmalloc-16`` cache: 256 nodes per slab page) and each pop one ``kfree`` (``freed``);
nothing is ever copied. The price is a pointer per element (16 bytes held for an 8-byte
value) and a dependent load per step of a walk. When the last node of a slab is freed the
slab page goes back to the page allocator, so after ``clear`` the kernel's counters
(``stats().slab_pages``, ``free_pages``) are where they started.

The nodes are allocated with ``Box.new(NODE, ..., alloc=self.alloc)``: that is a ``KBox``
(Rust's ``KBox<T>`` is ``Box<T, Kmalloc>``), made through the list's own ``Kmalloc`` so
that its ``observer`` sees the allocation; ``KBox.new`` would build a fresh ``Kmalloc`` for
each call, which no observer can be attached to beforehand.

>>> from kvalloc import Kernel
>>> lst = LinkedList([1, 2, 3], kernel=Kernel())
>>> lst.push_front(0); list(lst), len(lst), lst.pop_front(), lst.peek_front()
([0, 1, 2, 3], 4, 0, 1)
>>> lst.clear(); len(lst)
0
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any, Final

from containers import Box, KBox, Struct
from examples.events import print_events, print_total
from kvalloc import Kernel, Kmalloc, ReallocEvent
from kvalloc.alloc import Observer

#: One node: the value and the address of the next node (0 for none).
NODE: Final = Struct("<QQ")


class LinkedList:
    """A singly linked list of ``u64`` values in ``KBox`` nodes on ``kernel``.

    ``observer``, if given, sees the allocation and the free of every node.
    """

    __slots__ = ("_kernel", "_alloc", "_head", "_len", "_version")

    def __init__(self, items: Iterable[int] = (), *, kernel: Kernel,
                 observer: Observer | None = None) -> None:
        self._kernel = kernel
        self._alloc = Kmalloc(kernel)
        self._alloc.observer = observer
        self._head = 0                  # the address of the first node, 0 when empty
        self._len = 0
        self._version = 0
        for value in reversed(list(items)):
            self.push_front(value)

    # -- nodes ------------------------------------------------------------------------

    def _take(self, ptr: int) -> KBox[tuple[Any, ...]]:
        """Own the node at ``ptr`` again (freeing it is then the box's job)."""
        node = KBox.from_raw(NODE, ptr, kernel=self._kernel)
        node.alloc.observer = self._alloc.observer      # so the free is observed too
        return node

    @contextmanager
    def _borrow(self, ptr: int) -> Iterator[KBox[tuple[Any, ...]]]:
        """The node at ``ptr`` for the duration of a ``with`` block, then given away again."""
        node = self._take(ptr)
        try:
            yield node
        finally:
            node.into_raw()

    def _read(self, ptr: int) -> tuple[int, int]:
        """``(value, next)`` of the node at ``ptr``."""
        with self._borrow(ptr) as node:
            value, nxt = node.value
        return value, nxt

    # -- the list ---------------------------------------------------------------------

    def push_front(self, value: int) -> None:
        """Prepend ``value``: one kmalloc. O(1); AllocError or OverflowError (nothing changed)."""
        node = Box.new(NODE, (value, self._head), alloc=self._alloc)
        self._head = node.into_raw()
        self._len += 1
        self._version += 1

    def pop_front(self) -> int:
        """Remove and return the first value: one kfree. O(1); IndexError if empty."""
        if not self._head:
            raise IndexError("pop from an empty LinkedList")
        value, nxt = self._take(self._head).into_inner()
        self._head = nxt
        self._len -= 1
        self._version += 1
        result: int = value
        return result

    def peek_front(self) -> int:
        """The first value, left in place. O(1); IndexError if empty."""
        if not self._head:
            raise IndexError("peek at an empty LinkedList")
        return self._read(self._head)[0]

    def clear(self) -> None:
        """Free every node, front to back. O(n)."""
        while self._head:
            self.pop_front()

    def __len__(self) -> int:
        return self._len

    def __iter__(self) -> Iterator[int]:
        """The values front to back; RuntimeError if the list changes meanwhile."""
        version = self._version
        ptr = self._head
        while ptr:
            value, ptr = self._read(ptr)
            yield value
            if self._version != version:
                raise RuntimeError("LinkedList mutated during iteration")

    # -- inspection and lifetime ------------------------------------------------------

    @property
    def alloc(self) -> Kmalloc:
        """The allocator of the nodes."""
        return self._alloc

    @property
    def observer(self) -> Observer | None:
        """The observer of every node's allocation and free."""
        return self._alloc.observer

    @observer.setter
    def observer(self, observer: Observer | None) -> None:
        self._alloc.observer = observer

    def __repr__(self) -> str:
        return f"LinkedList({list(self)})"

    def drop(self) -> None:
        """:meth:`clear`: free every node."""
        self.clear()

    def __enter__(self) -> LinkedList:
        return self

    def __exit__(self, *exc: object) -> None:
        self.clear()

    def __del__(self) -> None:
        try:
            if getattr(self, "_head", 0):
                self.clear()
        except Exception:   # pragma: no cover - interpreter shutdown
            pass

    def _check(self) -> None:
        """Raise AssertionError (KernelBug for a node's own invariants) if broken. O(n).

        Every node is a live, correctly sized kmalloc object (``Box._check``), the chain
        ends, and it holds ``len`` nodes.
        """
        count, ptr = 0, self._head
        while ptr:
            assert count < self._len, f"more than {self._len} nodes: a cycle or a bad length"
            with self._borrow(ptr) as node:
                node._check()
                _, ptr = node.value
            count += 1
        assert count == self._len, f"{count} nodes, len {self._len}"


def main() -> None:
    """Push and pop a few nodes, event by event; then 10 000 nodes, counted."""
    kernel = Kernel()
    start = kernel.stats()
    events: list[ReallocEvent] = []
    lst = LinkedList(kernel=kernel, observer=events.append)
    for value in (10, 20, 30, 40):
        lst.push_front(value)
    first = lst.pop_front()
    print(f"LinkedList of KBox(Struct('<QQ')): pushed 10 20 30 40, popped {first}, "
          f"now {list(lst)}")
    lst.clear()
    print_events(events)

    events.clear()
    lst = LinkedList(range(10_000), kernel=kernel, observer=events.append)
    full = kernel.stats()
    lst._check()
    print(f"LinkedList(range(10000)): {len(lst)} nodes in {full.slab_pages - start.slab_pages} "
          f"slab pages, first {lst.peek_front()}, sum {sum(lst)}")
    lst.clear()
    print_total(events)
    kernel.check()
    end = kernel.stats()
    print(f"after clear: free pages {end.free_pages}, slab pages {end.slab_pages} "
          f"(at start {start.free_pages}, {start.slab_pages})")


if __name__ == "__main__":
    main()
