"""``examples.ring_deque``: the deque against ``collections.deque``, its growth, its log."""

from __future__ import annotations

import collections
import random

import pytest

from containers import pyobj, u8, u64
from examples import ring_deque
from examples.ring_deque import MIN_CAPACITY, RingDeque
from kvalloc import Kernel, ReallocEvent

from ..helpers import memory_state
from . import event_blocks, run_doctests, run_entry_point, shown


def test_both_ends_index_and_iterate_like_a_deque() -> None:
    k = Kernel()
    d = RingDeque(u64, [1, 2, 3], kernel=k)
    model = collections.deque([1, 2, 3])
    for x in range(10):
        d.push_front(x)
        model.appendleft(x)
        d.push_back(100 + x)
        model.append(100 + x)
    assert list(d) == list(model) and len(d) == len(model)
    assert [d[i] for i in range(-len(d), len(d))] == [model[i] for i in range(-len(d), len(d))]
    d[0], d[-1] = 7, 8
    model[0], model[-1] = 7, 8
    assert (d.pop_front(), d.pop_back()) == (model.popleft(), model.pop())
    assert list(d) == list(model)
    d._check()
    d.drop()
    k.check()


def test_errors() -> None:
    d = RingDeque(u64, kernel=Kernel())
    for pop in (d.pop_front, d.pop_back):
        with pytest.raises(IndexError, match="empty"):
            pop()
    with pytest.raises(IndexError):
        d[0]
    d.push_back(1)
    with pytest.raises(IndexError):
        d[1]
    with pytest.raises(IndexError):
        d[-2]
    with pytest.raises(RuntimeError, match="mutated"):
        for x in d:
            d.push_back(x)
    small = RingDeque(u8, [1], kernel=Kernel())
    with pytest.raises(OverflowError):
        small.push_back(300)
    assert list(small) == [1]
    small._check()


@pytest.mark.parametrize("front_first", [False, True])
def test_growth_moves_the_shorter_run(front_first: bool) -> None:
    """A full ring of 8 with head 2 moves the wrapped back run (2 slots) up; with head 6 it
    moves the front run (2 slots) to the end of the new buffer."""
    k = Kernel()
    events: list[ReallocEvent] = []
    d = RingDeque(u64, kernel=k, observer=events.append)
    for x in range(8):
        d.push_back(x)                  # capacity 4, then 8, head 0
    assert d.capacity == 8 and d.relaid == 0
    turns = 6 if front_first else 2     # rotate: head moves on, the ring stays full
    for _ in range(turns):
        d.push_back(d.pop_front())
    relaid = d.relaid
    model = list(d)
    d.push_back(99)                     # full: grow to 16
    assert d.capacity == 16 and d.relaid - relaid == 2
    assert list(d) == [*model, 99]
    assert len(d.vec) == 16 and d.vec.capacity == 16
    # one allocation per doubling: fresh 4 slots, then 8, then 16, each one vrealloc
    assert [(e.outcome, e.new_bytes) for e in events] == [
        ("fresh", 4 * 8), ("in_place", 8 * 8), ("in_place", 16 * 8)]
    d._check()
    d.drop()
    k.check()


def test_growth_is_one_reallocation_per_doubling_past_a_page() -> None:
    k = Kernel()
    events: list[ReallocEvent] = []
    d = RingDeque(u64, kernel=k, observer=events.append)
    for x in range(5000):
        if x % 2:
            d.push_back(x)
        else:
            d.push_front(x)
    assert d.capacity == 8192
    assert [e.new_bytes for e in events] == [MIN_CAPACITY * 8 << i for i in range(12)]
    assert {e.backing for e in events} == {"vmalloc"}
    moved = [e for e in events if e.outcome == "moved"]
    assert moved and all(e.bytes_copied == e.old_bytes for e in moved)
    assert d.relaid <= sum(MIN_CAPACITY << i for i in range(11)) // 2
    assert d.vec.stats.reallocs == len(events)
    d._check()


def test_pyobj_elements_keep_their_references_straight() -> None:
    k = Kernel()
    d = RingDeque(pyobj, kernel=k)
    items = [object() for _ in range(20)]
    for i, o in enumerate(items):
        (d.push_back if i % 2 else d.push_front)(o)
    assert sorted(map(id, d)) == sorted(map(id, items))
    assert d.pop_front() is items[18] and d.pop_back() is items[19]
    d._check()
    d.drop()
    k.check()


def test_random_operations_against_collections_deque(k: Kernel) -> None:
    rng = random.Random(77)
    start = memory_state(k)
    d = RingDeque(u64, kernel=k)
    model: collections.deque[int] = collections.deque()
    for step in range(4000):
        r = rng.random()
        x = rng.randrange(2**64)
        if r < 0.3:
            d.push_back(x)
            model.append(x)
        elif r < 0.55:
            d.push_front(x)
            model.appendleft(x)
        elif r < 0.7:
            if model:
                assert d.pop_back() == model.pop()
        elif r < 0.85:
            if model:
                assert d.pop_front() == model.popleft()
        elif r < 0.95:
            if model:
                i = rng.randrange(-len(model), len(model))
                assert d[i] == model[i]
                d[i] = x
                model[i] = x
        elif rng.random() < 0.5:
            assert list(d) == list(model)
        assert len(d) == len(model)
        if step % 250 == 0:
            d._check()
            k.check()
    assert list(d) == list(model)
    d._check()
    d.drop()
    k.check()
    assert memory_state(k) == start


def test_no_memory_is_left_after_drop() -> None:
    k = Kernel()
    start = memory_state(k)
    with RingDeque(u64, range(3000), kernel=k) as d:
        assert memory_state(k) != start
        assert sum(d) == sum(range(3000))
    k.check()
    assert memory_state(k) == start


def test_main_prints_the_real_events(capsys: pytest.CaptureFixture[str]) -> None:
    ring_deque.main()
    out = capsys.readouterr().out
    growth, drop = event_blocks(out)
    assert [b[2] for b in growth] == [32 << i for i in range(len(growth))]
    assert growth[0][0] == "fresh" and {b[0] for b in growth[1:]} <= {"in_place", "moved"}
    assert {b[4] for b in growth + drop} == {"vmalloc"}
    # replay main's pushes and pops: the same deque makes the same events
    events: list[ReallocEvent] = []
    d = RingDeque(u64, kernel=Kernel(), observer=events.append)
    for i in range(1000):
        d.push_back(i)
        if i % 3 == 0:
            d.push_front(d.pop_back() + 1_000_000)
        if i % 4 == 0:
            d.pop_front()
    assert growth == [shown(e) for e in events]
    assert f"{len(d)} elements, capacity {d.capacity}, {d.relaid} slots moved" in out
    assert [b[0] for b in drop] == ["freed"]
    assert "vmalloc pages 0, vmap areas 0 (at start 1048576, 0, 0)" in out


def test_entry_points_print_the_same_log(capsys: pytest.CaptureFixture[str]) -> None:
    ring_deque.main()
    here = capsys.readouterr().out
    assert run_entry_point("ring_deque") == here


def test_docstring_examples_hold() -> None:
    run_doctests(ring_deque)
