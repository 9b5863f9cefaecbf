"""``examples.hash_map``: the map against ``dict``, its probing and rehashing, its log."""

from __future__ import annotations

import random

import pytest

from examples import hash_map
from examples.hash_map import EMPTY, FULL, MIN_CAPACITY, SLOT, TOMBSTONE, HashMap
from kvalloc import Kernel, ReallocEvent

from ..helpers import memory_state
from . import event_blocks, run_doctests, run_entry_point


def colliding_keys(m: HashMap, n: int) -> list[int]:
    """``n`` keys with the same home slot in ``m``'s current table."""
    home = m._home(1)
    keys = [key for key in range(1, 10_000) if m._home(key) == home]
    assert len(keys) >= n
    return keys[:n]


def test_insert_get_remove_follow_a_dict() -> None:
    k = Kernel()
    m = HashMap(kernel=k)
    model: dict[int, int] = {}
    for key, value in [(1, 10), (2**64 - 1, 0), (0, 5), (1, 11), (7, 70)]:
        assert m.insert(key, value) == model.get(key)
        model[key] = value
    assert len(m) == len(model) and dict(m.items()) == model
    assert [m.get(key) for key in (1, 0, 2**64 - 1, 3)] == [11, 5, 0, None]
    assert 7 in m and 3 not in m and -1 not in m and 2**64 not in m and "7" not in m
    assert m.remove(7) == 70 and m.remove(7) is None and 7 not in m
    assert m.tombstones == 1 and len(m) == 3
    m._check()
    m.drop()
    k.check()


def test_out_of_range_keys_and_values_change_nothing() -> None:
    m = HashMap(kernel=Kernel())
    m.insert(1, 1)
    for key, value in [(-1, 0), (2**64, 0), (2, -1), (2, 2**64)]:
        with pytest.raises(OverflowError):
            m.insert(key, value)
    assert dict(m.items()) == {1: 1}
    m._check()
    with pytest.raises(ValueError, match="power of two"):
        HashMap(kernel=Kernel(), capacity=12)


def test_tombstones_keep_probe_chains_and_are_reused() -> None:
    k = Kernel()
    m = HashMap(kernel=k, capacity=16)
    a, b, c = colliding_keys(m, 3)
    for key in (a, b, c):
        m.insert(key, key)
    slots = m.vec.to_list()
    home = m._home(a)
    assert [s[:2] for s in slots[home:home + 3]] == [(FULL, a), (FULL, b), (FULL, c)]
    assert m.remove(b) == b
    assert m.vec[home + 1] == (TOMBSTONE, 0, 0)
    assert m.get(c) == c                # found past the tombstone
    m.insert(b, 2)                      # a new key takes the first tombstone on its chain
    assert m.vec[home + 1] == (FULL, b, 2) and m.tombstones == 0
    m._check()
    m.drop()
    k.check()


def test_rehash_doubles_the_table_at_three_quarters() -> None:
    k = Kernel()
    events: list[ReallocEvent] = []
    m = HashMap(kernel=k, observer=events.append)
    assert [(e.outcome, e.new_bytes) for e in events] == [("fresh", MIN_CAPACITY * SLOT.size)]
    for key in range(6):                # 6 of 8 slots: exactly 3/4
        m.insert(key, key)
    assert m.capacity == 8 and len(events) == 1
    m.insert(6, 6)                      # the 7th would pass 3/4: a table of 16
    assert m.capacity == 16 and m.rehashes == 1
    assert [(e.outcome, e.new_bytes, e.old_bytes) for e in events[1:]] == [
        ("fresh", 16 * SLOT.size, 0), ("freed", 0, 8 * SLOT.size)]
    assert all(e.bytes_copied == 0 for e in events)
    assert dict(m.items()) == {key: key for key in range(7)}
    m._check()
    m.drop()
    k.check()


def test_a_table_full_of_tombstones_is_rebuilt_at_the_same_size() -> None:
    k = Kernel()
    events: list[ReallocEvent] = []
    m = HashMap(kernel=k, capacity=64, observer=events.append)
    key = 0
    while True:                         # insert and remove: only tombstones pile up
        m.insert(key, key)
        if m.rehashes:
            break
        m.remove(key)
        key += 1
    assert key > 40                     # the chains reused few tombstones
    assert m.capacity == 64 and len(m) == 1 and m.tombstones == 0
    assert [e.outcome for e in events] == ["fresh", "fresh", "freed"]
    m._check()


def test_random_operations_against_a_dict(k: Kernel) -> None:
    rng = random.Random(31337)
    start = memory_state(k)
    events: list[ReallocEvent] = []
    m = HashMap(kernel=k, observer=events.append)
    model: dict[int, int] = {}
    keys = [rng.randrange(2**64) for _ in range(600)] + list(range(100))
    for step in range(4000):
        r = rng.random()
        key = rng.choice(keys)
        if r < 0.5:
            value = rng.randrange(2**64)
            assert m.insert(key, value) == model.get(key)
            model[key] = value
        elif r < 0.75:
            assert m.remove(key) == model.pop(key, None)
        elif r < 0.95:
            assert m.get(key) == model.get(key)
            assert (key in m) == (key in model)
        else:
            assert dict(m.items()) == model
        assert len(m) == len(model)
        if step % 250 == 0:
            m._check()
            k.check()
    assert dict(m.items()) == model
    m._check()
    fresh = sum(e.outcome == "fresh" for e in events)
    assert fresh == m.rehashes + 1 and sum(e.outcome == "freed" for e in events) == m.rehashes
    assert m.rehashes >= 3
    m.drop()
    k.check()
    assert memory_state(k) == start


def test_no_memory_is_left_after_drop() -> None:
    k = Kernel()
    start = memory_state(k)
    with HashMap(kernel=k) as m:
        for key in range(3000):
            m.insert(key, key)
        assert m.capacity == 4096 and memory_state(k) != start
    k.check()
    assert memory_state(k) == start


def test_the_slots_are_struct_records() -> None:
    m = HashMap(kernel=Kernel())
    m.insert(5, 50)
    slots = m.vec.to_list()
    assert SLOT.size == 17 and len(slots) == MIN_CAPACITY
    assert slots.count((EMPTY, 0, 0)) == MIN_CAPACITY - 1 and (FULL, 5, 50) in slots
    assert m.vec.as_bytes().count(SLOT.pack((FULL, 5, 50))) == 1


def test_main_prints_the_real_events(capsys: pytest.CaptureFixture[str]) -> None:
    hash_map.main()
    out = capsys.readouterr().out
    grow, sweep, drop = event_blocks(out)
    # growth: a fresh table of 8, 16, ... 2048 slots, each followed by the old table's free
    sizes = [SLOT.size * (MIN_CAPACITY << i) for i in range(9)]
    assert [(b[0], b[2]) for b in grow if b[0] == "fresh"] == [("fresh", s) for s in sizes]
    assert [b[1] for b in grow if b[0] == "freed"] == sizes[:-1]
    assert {b[4] for b in grow} == {"kmalloc"} and all(b[5] == 0 for b in grow)
    assert [(b[0], b[2]) for b in sweep] == [("fresh", sizes[-1]), ("freed", 0)]
    assert [(b[0], b[1]) for b in drop] == [("freed", sizes[-1])]
    # the held sizes are real kmalloc sizes: replay the first table
    k = Kernel()
    events: list[ReallocEvent] = []
    HashMap(kernel=k, observer=events.append).drop()
    assert grow[0][3] == events[0].new_allocated == 192
    assert "2048 slots, 8 rehashes" in out and "(at start 1048576, 0)" in out


def test_entry_points_print_the_same_log(capsys: pytest.CaptureFixture[str]) -> None:
    hash_map.main()
    here = capsys.readouterr().out
    assert run_entry_point("hash_map") == here


def test_docstring_examples_hold() -> None:
    run_doctests(hash_map)
