"""The kernel's deferred work, made deterministic: ``schedule_work`` on ``system_wq``
(docs/mm.md#deferred-work).

The kernel runs two vmalloc work items from a worker thread, at a time nobody can predict:
``drain_vmap_work`` (``drain_vmap_area_work``: purge the lazy areas once their page count
passed ``lazy_max_pages()``) and ``cleanup_vm_area`` (``cleanup_vm_area_work``: free the areas
whose ``__vmalloc_area_node`` failed, ``defer_vm_area_cleanup``). kvalloc queues them and
runs them at a defined point: at the start of the next vmalloc-family allocation (``vmalloc``
and its entry points, ``vmap``, ``vm_map_ram``; not the nested allocations of one call, so a
failed huge attempt still holds its pages and address space while the call falls back to
small pages, as in the kernel), or when asked (``Kernel.run_workqueues``).

Guarantees: a work item is queued at most once at a time (``schedule_work`` of a pending item
does nothing); items run in the order they were first queued; an item queued while the queue
runs waits for the next run.
"""

from __future__ import annotations

from collections.abc import Callable


class Workqueue:
    """Pending work items by name, in queueing order."""

    __slots__ = ("pending", "nr_run")

    def __init__(self) -> None:
        self.pending: dict[str, Callable[[], None]] = {}
        self.nr_run = 0

    def schedule_work(self, name: str, fn: Callable[[], None]) -> bool:
        """Queue ``fn`` as work ``name``; False if that work is already pending. O(1)."""
        if name in self.pending:
            return False
        self.pending[name] = fn
        return True

    def run(self) -> int:
        """Run every work item pending now, in order. Returns how many ran."""
        work = self.pending
        if not work:
            return 0
        self.pending = {}
        for fn in work.values():
            fn()
        self.nr_run += len(work)
        return len(work)
