"""``examples.binary_heap``: the heap against ``heapq``, its allocations, its printed log."""

from __future__ import annotations

import heapq
import random
from typing import Any

import pytest

from containers import KVec, Struct, u8, u64
from examples import binary_heap
from examples.binary_heap import BinaryHeap
from kvalloc import Kernel, ReallocEvent

from ..helpers import memory_state
from . import event_blocks, run_doctests, run_entry_point, shown


def test_push_pop_peek_follow_heapq() -> None:
    k = Kernel()
    values = [5, 3, 9, 3, 0, 2**64 - 1, 7, 1]
    heap = BinaryHeap(u64, kernel=k)
    model: list[int] = []
    for x in values:
        heap.push(x)
        heapq.heappush(model, x)
        assert heap.peek() == model[0] and len(heap) == len(model)
        heap._check()
    assert [heap.pop() for _ in range(len(heap))] == [heapq.heappop(model) for _ in values]
    assert len(heap) == 0
    heap.drop()
    k.check()


def test_empty_heap_raises_index_error() -> None:
    heap = BinaryHeap(u64, kernel=Kernel())
    with pytest.raises(IndexError, match="empty"):
        heap.pop()
    with pytest.raises(IndexError, match="empty"):
        heap.peek()
    heap.push(4)
    assert heap.pop() == 4
    with pytest.raises(IndexError):
        heap.pop()


def test_heapify_is_one_allocation_of_exactly_n_elements() -> None:
    k = Kernel()
    rng = random.Random(1)
    values = [rng.randrange(10**6) for _ in range(300)]
    events: list[ReallocEvent] = []
    heap = BinaryHeap(u64, values, kernel=k, observer=events.append)
    heap._check()
    assert [(e.outcome, e.new_bytes) for e in events] == [("fresh", 300 * 8)]
    assert heap.vec.capacity == 300
    assert [heap.pop() for _ in values] == sorted(values)
    heap.drop()
    assert events[-1].outcome == "freed"


def test_a_bad_value_changes_nothing() -> None:
    heap = BinaryHeap(u8, [3, 1, 2], kernel=Kernel())
    with pytest.raises(OverflowError):
        heap.push(256)
    assert len(heap) == 3 and heap.peek() == 1
    heap._check()


def test_struct_elements_order_as_tuples() -> None:
    """Any orderable element type works: (priority, id) records pop in tuple order."""
    k = Kernel()
    jobs = [(3, 30), (1, 10), (2, 20), (1, 5)]
    heap: BinaryHeap[tuple[Any, ...]] = BinaryHeap(Struct("<IQ"), jobs, kernel=k)
    assert [heap.pop() for _ in jobs] == sorted(jobs)
    heap.drop()
    k.check()


def test_growth_events_are_the_kvec_doublings() -> None:
    k = Kernel()
    events: list[ReallocEvent] = []
    with BinaryHeap(u64, kernel=k, observer=events.append) as heap:
        for x in range(100, 0, -1):
            heap.push(x)
        assert heap.observer is not None
        assert [e.new_bytes for e in events] == [8 << i for i in range(8)]
        assert [e.outcome for e in events] == ["fresh"] + ["moved"] * 7
        st = heap.vec.stats                 # reallocs counts every call, the first too
        assert (st.reallocs, st.moved, st.bytes_copied) == (8, 7, sum(e.bytes_copied for e in events))
        for _ in range(100):
            heap.pop()
        assert len(events) == 8             # popping never allocates
    assert events[-1].outcome == "freed"
    k.check()


def test_random_operations_against_heapq(k: Kernel) -> None:
    rng = random.Random(20240611)
    start = memory_state(k)
    events: list[ReallocEvent] = []
    heap = BinaryHeap(u64, kernel=k, observer=events.append)
    model: list[int] = []
    for step in range(4000):
        r = rng.random()
        if r < 0.55:
            x = rng.choice((rng.randrange(2**64), rng.randrange(50)))   # duplicates too
            heap.push(x)
            heapq.heappush(model, x)
        elif r < 0.9:
            if model:
                assert heap.pop() == heapq.heappop(model)
            else:
                with pytest.raises(IndexError):
                    heap.pop()
        elif model:
            assert heap.peek() == model[0]
        assert len(heap) == len(model)
        if step % 250 == 0:
            heap._check()
            k.check()
    assert sorted(heap.vec.to_list()) == sorted(model)
    heap._check()
    st = heap.vec.stats
    assert (st.reallocs, st.in_place, st.moved, st.bytes_copied) == (
        len(events), sum(e.outcome == "in_place" for e in events),
        sum(e.outcome == "moved" for e in events), sum(e.bytes_copied for e in events))
    heap.drop()
    k.check()
    assert memory_state(k) == start


def test_no_memory_is_left_after_drop() -> None:
    k = Kernel()
    start = memory_state(k)
    heap = BinaryHeap(u64, range(5000), kernel=k)
    for x in range(5000):
        heap.push(x)
    assert memory_state(k) != start
    heap.drop()
    k.check()
    assert memory_state(k) == start


def test_main_prints_the_real_events(capsys: pytest.CaptureFixture[str]) -> None:
    binary_heap.main()
    out = capsys.readouterr().out
    blocks = event_blocks(out)
    assert len(blocks) == 3                 # growth, drop, heapify
    # the same 100 pushes into a plain KVec(u64) make the same events
    expected: list[ReallocEvent] = []
    v = KVec(u64, kernel=Kernel())
    v.alloc.observer = expected.append
    for i in range(100):
        v.push(i)
    assert blocks[0] == [shown(e) for e in expected]
    assert [b[0] for b in blocks[1]] == ["freed"]
    assert [(b[0], b[2]) for b in blocks[2]] == [("fresh", 800), ("freed", 0)]
    assert "free pages 1048576, slab pages 0 (at start 1048576, 0)" in out
    v.drop()


def test_entry_points_print_the_same_log(capsys: pytest.CaptureFixture[str]) -> None:
    binary_heap.main()
    here = capsys.readouterr().out
    assert run_entry_point("binary_heap") == here


def test_docstring_examples_hold() -> None:
    run_doctests(binary_heap)
