"""The allocator event log every example prints: one line per :class:`kvalloc.ReallocEvent`
(what the allocator's ``observer`` saw), then the totals.

>>> from kvalloc import Kernel, Kmalloc, Layout
>>> a = Kmalloc(Kernel()); seen = []; a.observer = seen.append
>>> a.free(a.alloc(Layout(100)), Layout(100)); print_total(seen)
  total: 2 events (1 fresh, 0 in place, 0 moved, 1 freed), 0 bytes copied
"""

from __future__ import annotations

from kvalloc import ReallocEvent


def print_events(events: list[ReallocEvent]) -> None:
    """One line per allocator event, then the totals (the same in every example)."""
    for i, e in enumerate(events):
        print(f"  #{i:<2} {e.outcome:<8} {e.old_bytes:>6} -> {e.new_bytes:>6} B  "
              f"held {e.new_allocated:>6} B  {e.backing:<8} copied {e.bytes_copied:>5} B")
    print_total(events)


def print_total(events: list[ReallocEvent]) -> None:
    """The totals of :func:`print_events`."""
    n = {o: sum(e.outcome == o for e in events) for o in ("fresh", "in_place", "moved", "freed")}
    plural = "" if len(events) == 1 else "s"
    print(f"  total: {len(events)} event{plural} ({n['fresh']} fresh, {n['in_place']} in place, "
          f"{n['moved']} moved, {n['freed']} freed), "
          f"{sum(e.bytes_copied for e in events)} bytes copied")
