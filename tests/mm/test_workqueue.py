"""Deferred work (kvalloc/mm/workqueue.py, docs/mm.md#deferred-work): the kernel's
``drain_vmap_work`` and ``cleanup_vm_area`` work items, run at a defined point."""

from __future__ import annotations

from kvalloc import GFP, PMD_SIZE, Kernel, KernelConfig
from kvalloc.mm.workqueue import Workqueue

from ..helpers import PAGE, nn, quiet

VS = 0xFFFFC90000000000


def test_schedule_work_queues_once_and_runs_in_order() -> None:
    # kernel/workqueue.c: schedule_work() of a pending work returns false and queues nothing
    wq = Workqueue()
    ran: list[str] = []
    assert wq.schedule_work("a", lambda: ran.append("a"))
    assert wq.schedule_work("b", lambda: ran.append("b"))
    assert not wq.schedule_work("a", lambda: ran.append("a again"))
    assert list(wq.pending) == ["a", "b"]
    assert wq.run() == 2
    assert ran == ["a", "b"] and wq.pending == {} and wq.nr_run == 2
    assert wq.run() == 0 and wq.nr_run == 2


def test_work_scheduled_while_running_waits_for_the_next_run() -> None:
    wq = Workqueue()
    ran: list[str] = []

    def first() -> None:
        ran.append("first")
        wq.schedule_work("second", lambda: ran.append("second"))

    wq.schedule_work("first", first)
    assert wq.run() == 1
    assert ran == ["first"] and list(wq.pending) == ["second"]
    assert wq.run() == 1
    assert ran == ["first", "second"] and wq.pending == {}


def test_cleanup_frees_the_pending_areas_newest_first() -> None:
    # mm/vmalloc.c: defer_vm_area_cleanup() llist_add()s each failed area;
    # cleanup_vm_area_work() llist_del_all()s them, newest first. A huge request over a memcg
    # limit fails twice in one call (the huge attempt, then the small retry), so both wait.
    k = Kernel(KernelConfig())
    cg = k.memcg.create("h", max=256 * PAGE)
    with k.memcg.charge_to(cg), quiet():
        assert k.vmalloc_huge(PMD_SIZE, GFP.KERNEL_ACCOUNT) is None
    k.check()
    s = k.stats()
    assert (s.pending_work, s.vmap_areas) == (1, 2)
    assert cg.usage == 256 * PAGE               # the small retry's order-8 block
    assert k.vmallocinfo() == ""                # both are still VM_UNINITIALIZED
    k.trace.enable("free_vmap_area_noflush")
    assert k.run_workqueues() == 1
    k.check()
    freed = [e.fields["va_start"] for e in k.trace.events]
    assert freed == [VS + PMD_SIZE + PAGE, VS]  # the small retry first, then the huge try
    s = k.stats()
    assert (s.pending_work, s.vmap_areas, s.free_pages, cg.usage) == (0, 0, s.total_pages, 0)


def test_run_workqueues_with_nothing_pending() -> None:
    k = Kernel()
    p = nn(k.vmalloc(PAGE))
    k.vfree(p)
    assert k.stats().pending_work == 0
    assert k.run_workqueues() == 0
    assert k.stats().vmap_lazy_nr == 2          # nothing drains below the threshold
    k.check()


def test_vrealloc_and_vmap_run_pending_work_first() -> None:
    # the defined point is every vmalloc-family allocation, vrealloc and vmap included
    k = Kernel(KernelConfig(lazy_max_pages=1, cpus=1))
    p = nn(k.vmalloc(PAGE))
    q = nn(k.vmalloc(PAGE))
    k.vfree(p)                                  # 2 > 1 lazy pages: drain_vmap_work
    assert k.stats().pending_work == 1
    r = nn(k.vrealloc(q, 3 * PAGE, GFP.KERNEL))  # moves: allocates a new area
    assert k.stats().nr_purges == 1
    k.vfree(r)                                  # q went lazy in the move, r too: pending
    assert k.stats().pending_work == 1
    pages = k.alloc_pages_bulk(1)
    v = nn(k.vmap(pages))
    s = k.stats()
    assert (s.pending_work, s.nr_purges, s.vmap_lazy_nr) == (0, 2, 0)
    k.vunmap(v)
    k.check()
