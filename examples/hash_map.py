"""An open-addressing hash map on ``KVVec``: ``u64 -> u64`` with linear probing.

The table is a ``KVVec`` of ``SLOT = Struct("<BQQ")`` records, ``(state, key, value)``, 17
bytes each, with a power-of-two number of slots. ``state`` is ``EMPTY``, ``FULL`` or
``TOMBSTONE``. A key's home slot is its Fibonacci hash (the key times 2**64 / phi, top bits);
a lookup walks from there to the next slots until it finds the key or an ``EMPTY`` slot.
``remove`` leaves a ``TOMBSTONE``, which lookups walk past and inserts reuse, so the probe
chains of the other keys stay unbroken.

Operations, with the load kept at most 3/4: ``insert``, ``get``, ``remove`` and ``in`` are
O(1) expected slot reads (a slot read is one load of 17 bytes from simulated memory);
``items`` reads the table once, O(capacity).

Growth: when an insert would fill more than 3/4 of the slots (live entries and tombstones
alike), the map builds a new ``KVVec`` of twice the slots (one fresh ``kvmalloc``, filled in
one ``resize``), reinserts every live entry there and frees the old table. So the old table
is never resized and the allocator copies nothing (``bytes_copied`` 0): a rehash costs one
allocation, one free and O(capacity) slot reads and writes done by the map itself, ``n``
inserts cost O(n) in all, and during a rehash both tables are held (three times the old
one). When tombstones rather than entries filled the table (fewer than 3/8 of
the slots live), the new table keeps the old size: the rehash only sweeps them away.
``kvmalloc`` serves the table from kmalloc while it can (``backing`` stays ``kmalloc`` up to
``KMALLOC_MAX_SIZE``, 4 MiB). A table of ``2**k`` 17-byte slots is just over a power of two
bytes, so kmalloc rounds it up to almost twice that (``held`` in the ``main()`` output: 34816
bytes asked, 65536 held); 16-byte slots, with the states in a table of their own, would
waste nothing.

>>> from kvalloc import Kernel
>>> m = HashMap(kernel=Kernel())
>>> m.insert(1, 10), m.insert(1, 11), m.get(1), m.remove(1), m.get(1), len(m)
(None, 10, 11, 11, None, 0)
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Final

from containers import KVVec, Struct
from examples.events import print_events
from kvalloc import Kernel, ReallocEvent
from kvalloc.alloc import Observer

#: One slot: state (u8), key (u64), value (u64), packed.
SLOT: Final = Struct("<BQQ")
EMPTY, FULL, TOMBSTONE = 0, 1, 2
#: The capacity of a new map, in slots (a power of two).
MIN_CAPACITY = 8

_MASK64 = (1 << 64) - 1
_PHI64 = 0x9E3779B97F4A7C15         # 2**64 / golden ratio, odd


class HashMap:
    """A ``u64 -> u64`` map in a linear-probing table on ``kernel``.

    ``observer``, if given, is attached to the allocator of every table the map builds,
    before it allocates, so it sees every table allocated and freed. ``rehashes`` counts
    the tables built after the first.
    """

    __slots__ = ("_kernel", "_table", "_cap", "_bits", "_live", "_used", "_observer",
                 "rehashes")

    def __init__(self, *, kernel: Kernel, capacity: int = MIN_CAPACITY,
                 observer: Observer | None = None) -> None:
        if capacity < MIN_CAPACITY or capacity & (capacity - 1):
            raise ValueError(f"capacity must be a power of two >= {MIN_CAPACITY}, got {capacity}")
        self._kernel = kernel
        self._observer = observer
        self._live = 0                  # FULL slots
        self._used = 0                  # FULL and TOMBSTONE slots
        self.rehashes = 0
        self._table = self._new_table(capacity)
        self._cap = capacity
        self._bits = capacity.bit_length() - 1

    def _new_table(self, capacity: int) -> KVVec[tuple[Any, ...]]:
        table: KVVec[tuple[Any, ...]] = KVVec(SLOT, kernel=self._kernel)
        table.alloc.observer = self._observer
        table.resize(capacity, (EMPTY, 0, 0))       # one allocation of exactly capacity slots
        return table

    def _home(self, key: int) -> int:
        return ((key * _PHI64) & _MASK64) >> (64 - self._bits)

    def _find(self, key: int) -> tuple[int, bool]:
        """``(slot, True)`` where ``key`` is, else ``(slot, False)`` where it would go: the
        first tombstone on its probe chain, or the empty slot that ends the chain."""
        table, mask = self._table, self._cap - 1
        i = self._home(key)
        reuse = -1
        while True:
            state, k, _ = table[i]
            if state == EMPTY:
                return (i if reuse < 0 else reuse), False
            if state == FULL:
                if k == key:
                    return i, True
            elif reuse < 0:
                reuse = i
            i = (i + 1) & mask

    # -- the map ----------------------------------------------------------------------

    def insert(self, key: int, value: int) -> int | None:
        """Map ``key`` to ``value``; the old value, or None if the key is new.

        O(1) expected; a rehash when the new entry would take the load past 3/4.
        OverflowError (nothing changed) for a key or value outside u64.
        """
        SLOT.validate((FULL, key, value))
        i, found = self._find(key)
        if found:
            old: int = self._table[i][2]
            self._table[i] = (FULL, key, value)
            return old
        if self._table[i][0] == EMPTY:
            if 4 * (self._used + 1) > 3 * self._cap:
                self._rehash()
                i, _ = self._find(key)
            self._used += 1
        self._table[i] = (FULL, key, value)
        self._live += 1
        return None

    def get(self, key: int) -> int | None:
        """The value of ``key``, or None. O(1) expected."""
        i, found = self._find(key)
        if not found:
            return None
        value: int = self._table[i][2]
        return value

    def remove(self, key: int) -> int | None:
        """Remove ``key``, leaving a tombstone; its value, or None if absent. O(1) expected."""
        i, found = self._find(key)
        if not found:
            return None
        value: int = self._table[i][2]
        self._table[i] = (TOMBSTONE, 0, 0)
        self._live -= 1
        return value

    def __contains__(self, key: object) -> bool:
        return isinstance(key, int) and 0 <= key <= _MASK64 and self._find(key)[1]

    def __len__(self) -> int:
        return self._live

    def items(self) -> Iterator[tuple[int, int]]:
        """The entries in slot order, from one read of the table (a snapshot). O(capacity)."""
        for state, key, value in self._table.to_list():
            if state == FULL:
                yield key, value

    def _rehash(self) -> None:
        """Move the live entries to a new table (twice the slots, unless mostly tombstones)."""
        cap = 2 * self._cap if 8 * (self._live + 1) > 3 * self._cap else self._cap
        old = self._table
        self._table = self._new_table(cap)          # AllocError: the map is unchanged
        self._cap, self._bits = cap, cap.bit_length() - 1
        mask = cap - 1
        for state, key, value in old.to_list():
            if state == FULL:
                i = self._home(key)
                while self._table[i][0] != EMPTY:   # no tombstones and no duplicates here
                    i = (i + 1) & mask
                self._table[i] = (FULL, key, value)
        self._used = self._live
        self.rehashes += 1
        old.drop()

    # -- inspection and lifetime ------------------------------------------------------

    @property
    def capacity(self) -> int:
        """Slots in the table."""
        return self._cap

    @property
    def tombstones(self) -> int:
        """Slots holding a tombstone."""
        return self._used - self._live

    @property
    def vec(self) -> KVVec[tuple[Any, ...]]:
        """The current table (for inspection; a rehash replaces it)."""
        return self._table

    @property
    def observer(self) -> Observer | None:
        """The observer of every table's allocator."""
        return self._observer

    @observer.setter
    def observer(self, observer: Observer | None) -> None:
        self._observer = observer
        self._table.alloc.observer = observer

    def __repr__(self) -> str:
        return f"HashMap({dict(self.items())})"

    def drop(self) -> None:
        """Free the table now; the map is unusable afterwards."""
        self._table.drop()
        self._live = self._used = 0

    def __enter__(self) -> HashMap:
        return self

    def __exit__(self, *exc: object) -> None:
        self.drop()

    def _check(self) -> None:
        """Raise AssertionError (KernelBug for the vector's own invariants) if broken.

        Checks the counts, the load bound, and that every key is found from its home slot.
        O(capacity).
        """
        self._table._check()
        slots = self._table.to_list()
        assert len(slots) == self._cap == 1 << self._bits, f"{len(slots)} slots, cap {self._cap}"
        live = sum(s[0] == FULL for s in slots)
        used = live + sum(s[0] == TOMBSTONE for s in slots)
        assert (live, used) == (self._live, self._used), \
            f"counted {live} live and {used} used slots, recorded {self._live} and {self._used}"
        assert 4 * used <= 3 * self._cap, f"load {used}/{self._cap} above 3/4"
        keys = [s[1] for s in slots if s[0] == FULL]
        assert len(set(keys)) == len(keys), "a key is in two slots"
        for key in keys:
            assert self._find(key)[1], f"key {key} is not reachable from its home slot"


def main() -> None:
    """Insert 1000 keys, remove 900, insert 700; print every table the map built."""
    kernel = Kernel()
    start = kernel.stats()
    events: list[ReallocEvent] = []
    m = HashMap(kernel=kernel, observer=events.append)
    for key in range(1000):
        m.insert(key * 7919, key)
    print(f"HashMap(u64 -> u64) on KVVec of Struct('<BQQ'): {len(m)} entries, "
          f"{m.capacity} slots, {m.rehashes} rehashes")
    print_events(events)
    events.clear()
    for key in range(900):
        m.remove(key * 7919)
    for key in range(1000, 1700):
        m.insert(key * 7919, key)
    print(f"removed 900, inserted 700: {len(m)} entries, {m.tombstones} tombstones, "
          f"{m.capacity} slots (tombstones filled the table: rehashed at the same size)")
    print_events(events)
    m._check()
    events.clear()
    m.drop()
    print("drop:")
    print_events(events)
    kernel.check()
    end = kernel.stats()
    print(f"after drop: free pages {end.free_pages}, slab pages {end.slab_pages} "
          f"(at start {start.free_pages}, {start.slab_pages})")


if __name__ == "__main__":
    main()
