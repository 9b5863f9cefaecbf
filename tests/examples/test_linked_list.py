"""``examples.linked_list``: the list against a Python list, its nodes, its log."""

from __future__ import annotations

import gc
import random

import pytest

from containers import KBox
from examples import linked_list
from examples.linked_list import NODE, LinkedList
from kvalloc import Kernel, KernelBug, ReallocEvent

from ..helpers import memory_state
from . import event_blocks, run_doctests, run_entry_point


def test_push_pop_peek_iterate_like_a_list() -> None:
    k = Kernel()
    lst = LinkedList([1, 2, 3], kernel=k)
    model = [1, 2, 3]
    assert list(lst) == model and len(lst) == 3 and lst.peek_front() == 1
    for x in (0, 2**64 - 1):
        lst.push_front(x)
        model.insert(0, x)
    assert list(lst) == model and repr(lst) == f"LinkedList({model})"
    assert [lst.pop_front() for _ in range(3)] == model[:3]
    assert list(lst) == model[3:]
    lst._check()
    lst.clear()
    assert len(lst) == 0 and list(lst) == []
    k.check()


def test_errors() -> None:
    k = Kernel()
    lst = LinkedList(kernel=k)
    with pytest.raises(IndexError, match="empty"):
        lst.pop_front()
    with pytest.raises(IndexError, match="empty"):
        lst.peek_front()
    lst.push_front(1)
    start = memory_state(k)
    for bad in (-1, 2**64):
        with pytest.raises(OverflowError):
            lst.push_front(bad)
    assert list(lst) == [1] and memory_state(k) == start      # nothing allocated
    with pytest.raises(RuntimeError, match="mutated"):
        for x in lst:
            lst.push_front(x)
    lst.clear()


def test_the_nodes_are_kboxes_chained_by_address() -> None:
    k = Kernel()
    events: list[ReallocEvent] = []
    lst = LinkedList([7, 8], kernel=k, observer=events.append)
    first, second = events[1].new_ptr, events[0].new_ptr     # pushed back to front
    assert lst._head == first
    assert NODE.unpack(k.read(first, NODE.size)) == (7, second)
    assert NODE.unpack(k.read(second, NODE.size)) == (8, 0)
    assert k.ksize(first) == 16 and not k.is_vmalloc_addr(first)
    node = KBox.from_raw(NODE, first, kernel=k)
    node._check()
    assert node.value == (7, second)
    node.into_raw()                     # give it back: the list still owns it
    assert [(e.outcome, e.new_bytes, e.backing) for e in events] == [("fresh", 16, "kmalloc")] * 2
    assert lst.pop_front() == 7
    assert events[-1][:3] == (first, 0, 16) and events[-1].outcome == "freed"
    lst.clear()
    assert [e.outcome for e in events] == ["fresh", "fresh", "freed", "freed"]
    k.check()


def test_check_finds_a_broken_chain() -> None:
    k = Kernel()
    lst = LinkedList([1, 2, 3], kernel=k)
    lst._len = 2
    with pytest.raises(AssertionError, match="more than 2 nodes"):
        lst._check()
    lst._len = 3
    second = NODE.unpack(k.read(lst._head, NODE.size))[1]
    k.write(lst._head, NODE.pack((1, second + 8)))          # next points inside a node
    with pytest.raises(KernelBug):
        lst._check()
    k.write(lst._head, NODE.pack((1, second)))
    lst._check()
    lst.clear()
    k.check()


def test_random_operations_against_a_list(k: Kernel) -> None:
    rng = random.Random(4242)
    start = memory_state(k)
    events: list[ReallocEvent] = []
    lst = LinkedList(kernel=k, observer=events.append)
    model: list[int] = []                   # model[0] is the front
    for step in range(4000):
        r = rng.random()
        if r < 0.55:
            x = rng.randrange(2**64)
            lst.push_front(x)
            model.insert(0, x)
        elif r < 0.9:
            if model:
                assert lst.pop_front() == model.pop(0)
            else:
                with pytest.raises(IndexError):
                    lst.pop_front()
        elif r < 0.98:
            if model:
                assert lst.peek_front() == model[0]
        else:
            assert list(lst) == model
        assert len(lst) == len(model)
        if step % 250 == 0:
            lst._check()
            k.check()
    assert list(lst) == model
    lst._check()
    lst.clear()
    k.check()
    assert memory_state(k) == start
    fresh = sum(e.outcome == "fresh" for e in events)
    assert fresh == sum(e.outcome == "freed" for e in events) == len(events) // 2


def test_clear_gives_every_slab_page_back() -> None:
    k = Kernel()
    start = memory_state(k)
    with LinkedList(range(3000), kernel=k) as lst:
        assert k.stats().slab_pages == 12       # 3000 nodes of kmalloc-16, 256 a page
        assert sum(lst) == sum(range(3000))
    k.check()
    assert memory_state(k) == start


def test_a_collected_list_frees_its_nodes() -> None:
    k = Kernel()
    start = memory_state(k)
    lst = LinkedList(range(100), kernel=k)
    assert memory_state(k) != start
    del lst
    gc.collect()
    k.check()
    assert memory_state(k) == start


def test_main_prints_the_real_events(capsys: pytest.CaptureFixture[str]) -> None:
    linked_list.main()
    out = capsys.readouterr().out
    small, big = event_blocks(out)
    assert small == [("fresh", 0, 16, 16, "kmalloc", 0)] * 4 + [("freed", 16, 0, 0, "kmalloc", 0)] * 4
    assert big == []                    # the 10 000-node run prints its totals only
    assert "total: 20000 events (10000 fresh, 0 in place, 0 moved, 10000 freed)" in out
    assert "10000 nodes in 40 slab pages" in out and "(at start 1048576, 0)" in out


def test_entry_points_print_the_same_log(capsys: pytest.CaptureFixture[str]) -> None:
    linked_list.main()
    here = capsys.readouterr().out
    assert run_entry_point("linked_list") == here


def test_docstring_examples_hold() -> None:
    run_doctests(linked_list)
