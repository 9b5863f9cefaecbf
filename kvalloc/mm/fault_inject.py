"""Fault injection: ``fail_page_alloc`` and ``failslab`` (lib/fault-inject.c: should_fail()).

The kernel's ``should_fail()`` model, seeded: every candidate bumps a counter; it fails when
``times != 0``, ``counter % interval == 0`` and a draw is below ``probability``.

Example:
    >>> from kvalloc import Kernel, GFP
    >>> k = Kernel()
    >>> k.fault.fail_page_alloc(probability=1.0, times=1)
    >>> k.alloc_pages(0, GFP.KERNEL | GFP.NOWARN) is None, k.alloc_pages(0) is not None
    (True, True)
"""

from __future__ import annotations

import random

from .._validate import require_int
from ..constants import MAX_PAGE_ORDER
from .printk import KernelLog


class FaultAttr:
    """One ``struct fault_attr``: the debugfs attributes of one injection point."""

    __slots__ = ("name", "_probability", "interval", "_times", "min_order", "count", "armed")

    def __init__(self, name: str) -> None:
        self.name = name
        self._probability = 0.0
        self.interval = 1
        self._times = 0
        self.min_order = 0
        self.count = 0
        #: True when this point can fail anything at all (``times != 0`` and
        #: ``probability > 0``): a plain attribute, kept by the two setters, because every
        #: page and slab allocation tests it
        self.armed = False

    @property
    def probability(self) -> float:
        return self._probability

    @probability.setter
    def probability(self, value: float) -> None:
        self._probability = value
        self._rearm()

    @property
    def times(self) -> int:
        return self._times

    @times.setter
    def times(self, value: int) -> None:
        self._times = value
        self._rearm()

    def _rearm(self) -> None:
        self.armed = self._times != 0 and self._probability > 0.0


def _check(probability: object, interval: object, times: object) -> None:
    if isinstance(probability, bool) or not isinstance(probability, (int, float)):
        raise TypeError(f"probability must be a number, not {type(probability).__name__}")
    if not 0.0 <= probability <= 1.0:
        raise ValueError(f"probability must lie in [0, 1], got {probability}")
    require_int("interval", interval, 1)
    require_int("times", times, -1)


class FaultInjection:
    """``kernel.fault``: configure ``fail_page_alloc`` and ``failslab``; seeded and deterministic."""

    def __init__(self, seed: int, log: KernelLog) -> None:
        self._rng = random.Random(seed)
        self._log = log
        self.page_alloc = FaultAttr("fail_page_alloc")
        self.slab = FaultAttr("failslab")

    def fail_page_alloc(self, probability: float = 0.0, interval: int = 1, times: int = -1,
                        min_order: int = 0) -> None:
        """Arm ``fail_page_alloc``; ``times=-1`` means no limit. O(1)."""
        _check(probability, interval, times)
        require_int("min_order", min_order, 0, MAX_PAGE_ORDER + 1)
        attr = self.page_alloc
        attr.probability, attr.interval, attr.times, attr.min_order = (
            float(probability), interval, times, min_order)
        attr.count = 0

    def failslab(self, probability: float = 0.0, interval: int = 1, times: int = -1) -> None:
        """Arm ``failslab``; ``times=-1`` means no limit. O(1)."""
        _check(probability, interval, times)
        attr = self.slab
        attr.probability, attr.interval, attr.times = float(probability), interval, times
        attr.count = 0

    def clear(self) -> None:
        """Disarm both injection points and reset their counters."""
        self.page_alloc = FaultAttr("fail_page_alloc")
        self.slab = FaultAttr("failslab")

    def should_fail(self, attr: FaultAttr, nowarn: bool) -> bool:
        """``should_fail()`` for one candidate; logs the FAULT_INJECTION lines on a failure."""
        attr.count += 1
        if attr.times == 0 or attr.count % attr.interval:
            return False
        if not self._rng.random() < attr.probability:
            return False
        if not nowarn:
            self._log.pr("FAULT_INJECTION: forcing a failure.")
            self._log.pr(f"name {attr.name}, interval {attr.interval}, probability "
                         f"{int(100 * attr.probability)}, space 0, times {attr.times}")
        if attr.times != -1:
            attr.times -= 1
        return True
