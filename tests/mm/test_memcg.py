"""Memory cgroups (kvalloc.mm.memcontrol): charges, limits, events, the vmalloc stat."""

from __future__ import annotations

import threading

import pytest

from kvalloc import GFP, PMD_SIZE, Kernel
from kvalloc.mm.memcontrol import Cgroup

from ..helpers import M_KA, PAGE, instrumented_kernel as mk, norm, ok, pages_fail, quiet

pytestmark = pytest.mark.spec


def _limits_hold(*cgs: Cgroup) -> None:
    for cg in cgs:
        assert cg.max is None or cg.usage <= cg.max, cg  # 13.2 / INV-CG-3


def test_memcg_hierarchy_and_sibling_limits() -> None:
    k = mk()
    parent = k.memcg.create("parent", max=16 * PAGE)
    c1 = k.memcg.create("c1", parent=parent, max=4 * PAGE)
    c2 = k.memcg.create("c2", parent=parent)
    other = k.memcg.create("other", max=PAGE)
    allcg = (parent, c1, c2, other)
    # c1: 8 pages over its own limit of 4 (13.2): order-3 charge fails (event), order 2 is
    # charged (4), order 2 again fails, order 1 fails, the bulk frame fails, the fallback
    # frame fails -> 5 events on c1 and on its ancestor parent; then 8.4 step 6 and cleanup
    n0 = len(k.dmesg)
    with k.memcg.charge_to(c1), quiet():
        assert k.vmalloc(8 * PAGE, GFP.KERNEL_ACCOUNT) is None
    k.check()
    _limits_hold(*allcg)
    assert norm(k.dmesg[n0:]) == [pages_fail(16384, M_KA)]
    # the charged pages stay with the failed area until its deferred cleanup
    # (mm/vmalloc.c: defer_vm_area_cleanup(), cleanup_vm_area_work())
    assert (c1.usage, parent.usage, c2.usage) == (4 * PAGE, 4 * PAGE, 0)
    k.run_workqueues()
    k.check()
    assert (c1.usage, parent.usage, c2.usage) == (0, 0, 0)
    assert (c1.events()["max"], parent.events()["max"], c2.events()["max"]) == (5, 5, 0)
    # c2 (unlimited) is unaffected by its sibling's limit: one order-3 block
    with k.memcg.charge_to(c2):
        a = ok(k, k.vmalloc(8 * PAGE, GFP.KERNEL_ACCOUNT))
    _limits_hold(*allcg)
    assert (c1.usage, c2.usage, parent.usage) == (0, 8 * PAGE, 8 * PAGE)
    assert c2.stat() == {"kernel": 8 * PAGE, "vmalloc": 8 * PAGE}
    assert parent.stat() == {"kernel": 8 * PAGE, "vmalloc": 8 * PAGE}  # hierarchical (13.3)
    with k.memcg.charge_to(c1):
        b = ok(k, k.vmalloc(4 * PAGE, GFP.KERNEL_ACCOUNT))
    _limits_hold(*allcg)
    assert (c1.usage, c2.usage, parent.usage) == (4 * PAGE, 8 * PAGE, 12 * PAGE)
    # c2 again, 8 pages: the parent's limit (16) is what is exceeded. m = parent: order 3
    # fails (12+8), order 2 fits (16), order 2 fails, order 1 fails, bulk and fallback fail:
    # 5 more events on the parent, none on c2 (not m nor an ancestor of m) or c1
    n1 = len(k.dmesg)
    with k.memcg.charge_to(c2), quiet():
        assert k.vmalloc(8 * PAGE, GFP.KERNEL_ACCOUNT) is None
    k.check()
    _limits_hold(*allcg)
    assert norm(k.dmesg[n1:]) == [pages_fail(16384, M_KA)]
    assert (c1.usage, c2.usage, parent.usage) == (4 * PAGE, 12 * PAGE, 16 * PAGE)  # held
    k.run_workqueues()
    k.check()
    assert (c1.usage, c2.usage, parent.usage) == (4 * PAGE, 8 * PAGE, 12 * PAGE)
    assert (c1.events()["max"], c2.events()["max"], parent.events()["max"]) == (5, 0, 10)
    # a cgroup outside the tree is unaffected by both
    with k.memcg.charge_to(other):
        c = ok(k, k.vmalloc(PAGE, GFP.KERNEL_ACCOUNT))
    assert other.usage == PAGE and parent.usage == 12 * PAGE
    assert other.events()["max"] == 0
    for p in (a, b, c):
        k.vfree(p)
        k.check()
        _limits_hold(*allcg)
    for cg in allcg:
        assert cg.usage == 0 and cg.stat() == {"kernel": 0, "vmalloc": 0}


def test_memcg_over_limit_fails_and_gives_everything_back() -> None:
    # 13.2 worked: max 3 pages, 4 pages requested: order 2 fails (1), order 1 charged (2),
    # order 1 again fails (2), bulk: one frame charged (3), the next fails (3), fallback fails
    # (4) -> 3 of 4 pages -> 8.4 step 6 line -> cleanup uncharges all
    k = mk("generic")
    cg = k.memcg.create("lim", max=3 * PAGE)
    x = ok(k, k.vmalloc(PAGE))  # unrelated state that must survive
    s0 = k.stats()
    n0 = len(k.dmesg)
    with k.memcg.charge_to(cg), quiet():
        assert k.vmalloc(4 * PAGE, GFP.KERNEL_ACCOUNT) is None
    k.check()
    assert cg.usage == 3 * PAGE                # held until the deferred cleanup runs
    k.run_workqueues()
    k.check()
    s1 = k.stats()
    assert norm(k.dmesg[n0:]) == [pages_fail(12288, M_KA)]
    assert cg.usage == 0 and cg.stat()["vmalloc"] == 0
    assert cg.events()["max"] == 4
    assert (s1.free_pages, s1.vmap_areas, s1.slab_pages, s1.nr_vmalloc_pages) == (
        s0.free_pages, s0.vmap_areas, s0.slab_pages, s0.nr_vmalloc_pages)
    assert s1.vmap_lazy_nr == s0.vmap_lazy_nr + 5  # 8.4 step 8: the VA (4 + guard) went lazy
    # NOWARN: the same failure, silent
    n1 = len(k.dmesg)
    with k.memcg.charge_to(cg):
        assert k.vmalloc(4 * PAGE, GFP.KERNEL_ACCOUNT | GFP.NOWARN) is None
    assert k.dmesg[n1:] == [] and cg.events()["max"] == 8
    # exactly the limit fits: order 1 + bulk frame, usage == max
    with k.memcg.charge_to(cg):
        p = ok(k, k.vmalloc(3 * PAGE, GFP.KERNEL_ACCOUNT))
    assert cg.usage == 3 * PAGE == cg.max
    k.vfree(p)
    k.vfree(x)
    k.check()
    assert cg.usage == 0


def test_memcg_huge_over_limit_events() -> None:
    # 8.3/8.5/13.2: max 1 MiB (256 pages), vmalloc_huge(2 MiB, KERNEL_ACCOUNT):
    # huge try: order 9 charge fails (1), no warn for page_order 9; small retry: order 9 (2),
    # order 8 charged, orders 8, 7, 6, 5, 4, 3, 2, 1 fail (10), bulk frame (11), fallback (12)
    k = mk()
    cg = k.memcg.create("h", max=256 * PAGE)
    n0 = len(k.dmesg)
    with k.memcg.charge_to(cg), quiet():
        assert k.vmalloc_huge(PMD_SIZE, GFP.KERNEL_ACCOUNT) is None
    k.check()
    assert norm(k.dmesg[n0:]) == [pages_fail(1048576, M_KA)]
    assert cg.events()["max"] == 12
    # both failed attempts await cleanup_vm_area_work(); the small one holds 256 charged pages
    assert cg.usage == 256 * PAGE
    k.run_workqueues()
    k.check()
    assert cg.usage == 0
    assert k.stats().free_pages == k.stats().total_pages
    cg.max = None
    with k.memcg.charge_to(cg):
        p = ok(k, k.vmalloc_huge(PMD_SIZE, GFP.KERNEL_ACCOUNT))
    area = k.find_vm_area(p)
    assert area is not None and area.page_order == 9
    assert cg.usage == PMD_SIZE and cg.stat()["vmalloc"] == PMD_SIZE
    k.vfree(p)
    k.check()
    assert cg.usage == 0


def test_memcg_vmalloc_stat_counts_only_charged_area_pages() -> None:
    # 8.4 step 3: page arrays are never charged; 11.2: slab objects are not charged, large
    # kmalloc blocks are; 13.3: "vmalloc" counts charged vmalloc pages, "kernel" all charged
    k = mk()
    cg = k.memcg.create("st")
    with k.memcg.charge_to(cg):
        a = ok(k, k.vmalloc(513 * PAGE, GFP.KERNEL_ACCOUNT))  # array: nested 2-page vmalloc
        b = ok(k, k.vmalloc(3 * PAGE))                        # not accounted
        c = ok(k, k.kmalloc(16384, GFP.KERNEL_ACCOUNT))      # large kmalloc: order 2, charged
        d = ok(k, k.kmalloc(100, GFP.KERNEL_ACCOUNT))        # slab object: not charged
        e = ok(k, k.vmalloc_huge(PMD_SIZE, GFP.KERNEL_ACCOUNT))
        f = ok(k, k.vzalloc(5 * PAGE))                        # GFP_KERNEL | ZERO: not charged
    assert cg.usage == (513 + 4 + 512) * PAGE
    assert cg.stat() == {"kernel": (513 + 4 + 512) * PAGE, "vmalloc": (513 + 512) * PAGE}
    # NR_VMALLOC counts every vmalloc page, charged or not, arrays included (8.4 step 5, 13.3)
    assert k.stats().nr_vmalloc_pages == 513 + 2 + 3 + 512 + 5
    k.vfree(a)
    k.check()
    assert cg.stat() == {"kernel": (4 + 512) * PAGE, "vmalloc": 512 * PAGE}
    k.kfree(c)
    assert cg.stat() == {"kernel": 512 * PAGE, "vmalloc": 512 * PAGE}
    for p in (b, e, f):
        k.vfree(p)
    k.kfree(d)
    k.check()
    assert cg.usage == 0 and cg.stat() == {"kernel": 0, "vmalloc": 0}
    assert k.stats().nr_vmalloc_pages == 0


def test_memcg_uncharge_goes_to_owner_and_charge_to_is_per_thread() -> None:
    # 13.1: freeing uncharges the page's cgroup whichever is current; charge_to is per
    # thread (API 4.4); the root is never charged
    k = mk()
    cg1 = k.memcg.create("one")
    cg2 = k.memcg.create("two")
    out: list[int | None] = []

    def worker() -> None:
        out.append(k.vmalloc(PAGE, GFP.KERNEL_ACCOUNT))   # this thread: root -> not charged
        with k.memcg.charge_to(cg2):
            out.append(k.vmalloc(2 * PAGE, GFP.KERNEL_ACCOUNT))

    with k.memcg.charge_to(cg1):
        t = threading.Thread(target=worker)
        t.start()
        t.join()
        p = ok(k, k.vmalloc(4 * PAGE, GFP.KERNEL_ACCOUNT))
    k.check()
    assert (cg1.usage, cg2.usage) == (4 * PAGE, 2 * PAGE)
    with k.memcg.charge_to(cg2):
        k.vfree(p)  # uncharges cg1, not cg2
    assert (cg1.usage, cg2.usage) == (0, 2 * PAGE)
    for q in out:
        k.vfree(ok(k, q))
    k.check()
    assert (cg1.usage, cg2.usage) == (0, 0)


def test_memcg_max_zero_events_and_large_kmalloc_charge_failure() -> None:
    k = mk()
    cg = k.memcg.create("zero", max=0)
    # 1 page: no large-order attempt (ilog2(1) = 0); bulk frame fails (1), fallback fails (2)
    n0 = len(k.dmesg)
    with k.memcg.charge_to(cg), quiet():
        assert k.vmalloc(PAGE, GFP.KERNEL_ACCOUNT) is None
    assert norm(k.dmesg[n0:]) == [pages_fail(0, M_KA)]
    assert cg.events() == {"low": 0, "high": 0, "max": 2, "oom": 0, "oom_kill": 0,
                           "oom_group_kill": 0}
    # 4.7: a large kmalloc whose charge fails frees the block and fails without a message
    n1 = len(k.dmesg)
    with k.memcg.charge_to(cg):
        assert k.kmalloc(16384, GFP.KERNEL_ACCOUNT) is None
        assert ok(k, k.kmalloc(100, GFP.KERNEL_ACCOUNT)) is not None  # slab: not charged
    assert k.dmesg[n1:] == []
    assert cg.events()["max"] == 3 and cg.usage == 0
    k.check()


def test_memcg_key_sets() -> None:
    # 13.3: memory.stat prints kernel then vmalloc; memory.events low, high, max, oom,
    # oom_kill, oom_group_kill
    k = mk()
    cg = k.memcg.create("keys")
    assert list(cg.stat()) == ["kernel", "vmalloc"]
    assert list(cg.events()) == ["low", "high", "max", "oom", "oom_kill", "oom_group_kill"]
    assert cg.max is None and cg.usage == 0


def test_memcg_lowered_max_does_not_reclaim() -> None:
    # 13.2: lowering memory.max below the usage reclaims nothing; later charges fail
    k = mk()
    cg = k.memcg.create("low")
    with k.memcg.charge_to(cg):
        p = ok(k, k.vmalloc(4 * PAGE, GFP.KERNEL_ACCOUNT))
    cg.max = 2 * PAGE
    assert cg.usage == 4 * PAGE
    k.check()  # INV-CG-3 allows it after a lowered max
    with k.memcg.charge_to(cg), quiet():
        assert k.vmalloc(PAGE, GFP.KERNEL_ACCOUNT) is None
    assert cg.usage == 4 * PAGE and cg.events()["max"] == 2
    k.vfree(p)
    k.check()
    assert cg.usage == 0
    with k.memcg.charge_to(cg):
        q = ok(k, k.vmalloc(2 * PAGE, GFP.KERNEL_ACCOUNT))  # one order-1 block fits exactly
    _limits_hold(cg)
    k.vfree(q)
    k.check()


def test_memcg_nofail_may_exceed_max() -> None:
    # 13.2: with __GFP_NOFAIL everything is charged anyway. Events are not asserted: whether
    # the bulk step keeps NOFAIL is not stated (8.5), which changes the count.
    k = mk()
    cg = k.memcg.create("nf", max=3 * PAGE)
    with k.memcg.charge_to(cg), quiet():
        p = ok(k, k.vmalloc(4 * PAGE, GFP.KERNEL_ACCOUNT | GFP.NOFAIL))
    assert cg.usage == 4 * PAGE and cg.stat()["vmalloc"] == 4 * PAGE
    assert cg.events()["max"] >= 3  # at least order 2, order 1 again, one order-0 charge
    k.check()  # INV-CG-3: allowed after a NOFAIL charge
    k.vfree(p)
    k.check()
    assert cg.usage == 0


def test_memcg_refuses_a_cgroup_of_another_kernel() -> None:
    a, b = Kernel(), Kernel()
    b_cg = b.memcg.create("b")
    with pytest.raises(ValueError, match="belongs to another Kernel"), a.memcg.charge_to(b_cg):
        a.vmalloc(8192, GFP.KERNEL_ACCOUNT)
    with pytest.raises(ValueError, match="belongs to another Kernel"):
        a.memcg.create("x", parent=b_cg)
    assert b_cg.usage == 0 and [c.name for c in b_cg.children] == []
    a.check()
    b.check()
