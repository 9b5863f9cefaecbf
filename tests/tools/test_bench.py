"""The bench's interleaved measurement (kvalloc.tools.bench._rounds / _ratio), with fake
timings: no wall-clock time is asserted."""

from __future__ import annotations

import gc
from collections.abc import Callable

import pytest

from kvalloc.tools import bench


def _fake(name: str, calls: list[str], seconds: list[float]) -> Callable[[], float]:
    it = iter(seconds)

    def run() -> float:
        calls.append(name)
        assert not gc.isenabled()              # GC is off while any side runs
        return next(it)
    return run


def test_rounds_alternate_the_order_and_keep_each_sides_times() -> None:
    calls: list[str] = []
    t = bench._rounds({"a": _fake("a", calls, [1.0, 2.0, 3.0, 4.0]),
                       "b": _fake("b", calls, [10.0, 20.0, 30.0, 40.0])}, 4)
    assert calls == ["a", "b", "b", "a", "a", "b", "b", "a"]
    assert t == {"a": [1.0, 2.0, 3.0, 4.0], "b": [10.0, 20.0, 30.0, 40.0]}
    assert gc.isenabled()


def test_rounds_rotate_three_sides() -> None:
    calls: list[str] = []
    sides = {name: _fake(name, calls, [1.0] * 3) for name in "xyz"}
    bench._rounds(sides, 3, collect=False)
    assert calls == list("xyz" "yzx" "zxy")


def test_ratio_is_the_median_of_per_round_ratios() -> None:
    # a load step between the rounds moves both sides of a round alike: the per-round
    # ratios stay 2, where min / min would give 1.5 / 0.5 = 3
    t = {"on": [1.0, 6.0, 6.2, 1.5], "off": [0.5, 3.0, 3.1, 0.75]}
    assert bench._ratio(t, "on", "off") == pytest.approx(2.0)
    assert bench._ratio({"a": [1.0, 9.0, 2.0], "b": [1.0, 1.0, 1.0]}, "a", "b") == 2.0


def test_timed_returns_the_seconds_of_one_call() -> None:
    calls: list[int] = []
    t = bench._timed(lambda: calls.append(1))()
    assert calls == [1] and t >= 0.0
