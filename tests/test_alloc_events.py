"""ReallocEvent: what the allocator layer reports for every resize, and the kernel counters
the studies read (vrealloc fresh / fall-through, the page low-water mark, busy VA bytes)."""

from __future__ import annotations

import pytest

from kvalloc import (
    GFP,
    PAGE_SIZE,
    AllocError,
    Kernel,
    KernelBug,
    KernelConfig,
    Kmalloc,
    KVmalloc,
    Layout,
    MoveOnly,
    ReallocEvent,
    Vmalloc,
)

from .helpers import quiet


def test_vmalloc_events_report_outcome_sizes_and_pages() -> None:
    k = Kernel()
    a = Vmalloc(k)
    seen: list[ReallocEvent] = []
    a.observer = seen.append
    p = a.alloc(Layout(5000))
    q = a.realloc(p, Layout(8000), Layout(5000))           # within the two pages: in place
    r = a.realloc(q, Layout(9000), Layout(8000))           # a third page: latest moves
    a.free(r, Layout(9000))
    assert [(e.outcome, e.old_bytes, e.new_bytes, e.old_allocated, e.new_allocated, e.bytes_copied)
            for e in seen] == [
        ("fresh", 0, 5000, 0, 8192, 0),
        ("in_place", 5000, 8000, 8192, 8192, 0),
        ("moved", 8000, 9000, 8192, 12288, 8000),
        ("freed", 9000, 0, 12288, 0, 0),
    ]
    assert [(e.old_ptr, e.new_ptr) for e in seen] == [(0, p), (p, q), (q, r), (r, 0)]
    assert {e.backing for e in seen} == {"vmalloc"}
    k.check()


def test_kmalloc_events_report_ksize() -> None:
    k = Kernel()
    a = Kmalloc(k)
    seen: list[ReallocEvent] = []
    a.observer = seen.append
    p = a.alloc(Layout(100))
    p = a.realloc(p, Layout(120), Layout(100))             # kmalloc-128 holds it
    p = a.realloc(p, Layout(200), Layout(120))             # kmalloc-256: moved
    assert [(e.outcome, e.new_allocated, e.bytes_copied, e.backing) for e in seen] == [
        ("fresh", 128, 0, "kmalloc"), ("in_place", 128, 0, "kmalloc"),
        ("moved", 256, 128, "kmalloc")]                   # krealloc copies ksize(p) bytes
    assert seen[-1].new_allocated == k.ksize(p)
    a.free(p, Layout(200))
    k.check()


def test_kvmalloc_event_names_the_backing_it_lands_on() -> None:
    k = Kernel()
    a = KVmalloc(k)
    seen: list[ReallocEvent] = []
    a.observer = seen.append
    p = a.alloc(Layout(4096))
    p = a.realloc(p, Layout(64 << 20), Layout(4096))       # past kmalloc: vmalloc, huge pages
    assert [(e.outcome, e.backing) for e in seen] == [("fresh", "kmalloc"),
                                                      ("moved", "vmalloc_huge")]
    assert seen[-1].new_allocated == (64 << 20)
    a.free(p, Layout(64 << 20))


def test_huge_vmalloc_event_reports_the_rounded_pmd_pages() -> None:
    k = Kernel(KernelConfig(ram=1 << 30))
    a = KVmalloc(k)
    seen: list[ReallocEvent] = []
    a.observer = seen.append
    p = a.alloc(Layout(5 << 20))                           # past KMALLOC_MAX_SIZE: huge vmalloc
    e = seen[0]
    area = k.find_vm_area(p)
    assert area is not None and area.page_order == 9
    assert (e.new_bytes, e.new_allocated, e.backing) == (5 << 20, 6 << 20, "vmalloc_huge")
    a.free(p, Layout(5 << 20))


def test_a_failed_resize_is_an_event_and_changes_nothing() -> None:
    k = Kernel(KernelConfig(ram=64 << 20))
    a = Vmalloc(k)
    seen: list[ReallocEvent] = []
    a.observer = seen.append
    p = a.alloc(Layout(5000))
    with quiet(), pytest.raises(AllocError):
        a.realloc(p, Layout(1 << 30), Layout(5000))
    e = seen[-1]
    assert (e.outcome, e.old_ptr, e.new_ptr, e.new_allocated, e.bytes_copied) == (
        "failed", p, p, 8192, 0)
    k.check()


def test_moveonly_reports_one_moved_event_per_resize() -> None:
    k = Kernel()
    a = MoveOnly(Vmalloc(k))
    seen: list[ReallocEvent] = []
    a.observer = seen.append
    p = a.alloc(Layout(100))
    a.realloc(p, Layout(200), Layout(100))
    assert [(e.outcome, e.bytes_copied) for e in seen] == [("fresh", 0), ("moved", 100)]


def test_no_observer_no_events_and_bad_layouts_still_type_errors() -> None:
    a = Vmalloc(Kernel())
    a.observer = lambda e: pytest.fail("no resize happened")
    with pytest.raises(TypeError, match="^layout and old_layout must be Layout instances$"):
        a.realloc(None, 100, Layout(0))  # type: ignore[arg-type]


@pytest.mark.parametrize("profile, fresh, fallthrough", [
    ("a0309faf1cb0", 1, 1), ("f7a35a3c36d1", 1, 0), ("latest", 1, 0)])
def test_vrealloc_counts_fresh_and_the_a0309faf1cb0_fall_through(profile: str, fresh: int,
                                                                 fallthrough: int) -> None:
    k = Kernel(KernelConfig(vrealloc=profile))
    p = k.vrealloc(None, 5000)
    q = k.vrealloc(p, 6000)                                # inside the area: in place, or not
    s = k.stats()
    assert (s.vrealloc_fresh, s.vrealloc_fallthrough) == (fresh, fallthrough)
    assert s.vrealloc_moved == fresh + fallthrough
    assert (q != p) == bool(fallthrough)
    k.check()


def test_page_low_water_mark_sees_old_and_new_buffers_together() -> None:
    k = Kernel()
    m = k.machine.mem
    p = k.vmalloc(40 * PAGE_SIZE)
    m.reset_watermark()
    base = m.nr_frames - m.nr_free
    q = k.vrealloc(p, 80 * PAGE_SIZE)                      # a move: 40 + 80 data pages at once
    assert q != p
    peak = (m.nr_frames - m.min_free) - base               # above the 40 pages held before
    after = (m.nr_frames - m.nr_free) - base
    assert peak >= 80                                      # new 80 allocated, old 40 still held
    assert peak - after >= 40                              # the old 40 freed after the copy
    m.min_free = m.nr_free + 1
    with pytest.raises(KernelBug, match="^INV-PG-1: low-water mark"):
        k.check()


def test_busy_bytes_follows_the_busy_areas_and_is_checked() -> None:
    k = Kernel()
    kva = k.machine.kva
    assert kva.busy_bytes == 0
    p = k.vmalloc(3 * PAGE_SIZE)
    assert kva.busy_bytes == 4 * PAGE_SIZE                 # with the guard page
    q = k.vmalloc(PAGE_SIZE, GFP.KERNEL)
    k.vfree(p)
    assert kva.busy_bytes == 2 * PAGE_SIZE
    k.check()
    kva.busy_bytes += 1
    with pytest.raises(KernelBug, match=r"^INV-KVA-4: busy_bytes 8193 != 8192 bytes of busy areas$"):
        k.check()
    kva.busy_bytes -= 1
    k.vfree(q)
    assert kva.busy_bytes == 0


def test_direct_view_reuse_equals_a_fresh_view_after_in_place_resizes() -> None:
    k = Kernel()
    p = k.vmalloc(3 * PAGE_SIZE)
    assert p is not None
    view = k.direct_view(p, 100)
    for size in (5000, 3 * PAGE_SIZE, 2 * PAGE_SIZE + 7, 50, 3 * PAGE_SIZE):
        reused = k.direct_view(p, size, view)
        fresh = k.direct_view(p, size)
        assert reused.pfns == fresh.pfns and reused.size == fresh.size == size
        assert (reused.flat is None) == (fresh.flat is None)
        if fresh.flat is not None and reused.flat is not None:
            assert len(reused.flat) == len(fresh.flat) == size
        view = reused
    q = k.kmalloc(3000)
    assert q is not None
    a = k.direct_view(q, 100)
    b = k.direct_view(q, 3000, a)
    assert b.pfns == k.direct_view(q, 3000).pfns and b.flat is not None
    with pytest.raises(TypeError, match="^reuse must be a DirectView or None, not int$"):
        k.direct_view(p, 10, 5)  # type: ignore[arg-type]


def test_direct_view_reuse_resizes_the_view_and_drops_the_page_views_past_the_end() -> None:
    k = Kernel()
    p = k.vmalloc(4 * PAGE_SIZE)
    assert p is not None
    view = k.direct_view(p, 4 * PAGE_SIZE)
    pages = view.typed_pages("Q")
    pages[3][0] = 7
    cache = pages.cache
    assert set(cache) == {3}
    small = k.direct_view(p, 2 * PAGE_SIZE, view)
    assert small is view and small.size == 2 * PAGE_SIZE          # resized, not rebuilt
    assert small.typed_pages("Q").cache is cache and len(small.pfns) == 2
    assert set(cache) == set() and len(small.typed_pages("Q")) == 2
    with pytest.raises(IndexError, match=r"^page 3 outside the view's 2 pages$"):
        small.typed_pages("Q")[3]
    small.typed_pages("Q")[1][5] = 9
    big = k.direct_view(p, 4 * PAGE_SIZE, small)
    assert big.typed_pages("Q")[1][5] == 9 and big.typed_pages("Q")[3][0] == 7
    assert big.pfns == k.direct_view(p, 4 * PAGE_SIZE).pfns
    k.vfree(p)
    k.check()
