"""Shared test helpers: stats comparison that ignores the warnings counter, quiet warnings."""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from typing import TypeVar

from kvalloc import PAGE_SIZE, Kernel, KernelWarning

T = TypeVar("T")
PAGE_OFFSET = 0xFFFF888000000000  # KERNEL.md 1.1 (direct map base)


def dm(pfn: int) -> int:
    """Direct-map address of a frame (KERNEL.md 4.1)."""
    return PAGE_OFFSET + pfn * PAGE_SIZE


def ck(k: Kernel, value: T) -> T:
    """Run the invariant checker after a step and pass the step's result through."""
    k.check()
    return value


def nn(value: T | None) -> T:
    """Narrow an Optional result that the test expects to be present."""
    assert value is not None
    return value


def stats_without_warnings(k: Kernel) -> dict[str, int]:
    """Every KernelStats field except ``warnings`` (which a refused call legitimately bumps)."""
    d = dataclasses.asdict(k.stats())
    d.pop("warnings")
    return d


@contextmanager
def quiet() -> Iterator[None]:
    """Silence KernelWarnings (dmesg still records them)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", KernelWarning)
        yield


def assert_refused(k: Kernel, call: Callable[[], object], expect: object,
                   new_lines: list[str], nr_warnings: int) -> None:
    """Run a call the kernel refuses: result, exact new dmesg lines, nothing else changed."""
    before = stats_without_warnings(k)
    warns_before = k.stats().warnings
    info_before = k.vmallocinfo()
    log_len = len(k.dmesg)
    with quiet():
        result = call()
    assert result == expect
    assert k.dmesg[log_len:] == new_lines
    assert k.stats().warnings == warns_before + nr_warnings
    assert stats_without_warnings(k) == before
    assert k.vmallocinfo() == info_before
    k.check()


@contextmanager
def kernel_warnings(n: int) -> Iterator[None]:
    """Expect exactly n KernelWarning issued in the block (API.md 6)."""
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        yield
    got = [w for w in rec if issubclass(w.category, KernelWarning)]
    assert len(got) == n, [str(w.message) for w in got]


def warn_lines(message: str | None, function: str) -> list[str]:
    """The dmesg lines of a WARN (or WARN_ON when message is None)."""
    lines = ["------------[ cut here ]------------"]
    if message is not None:
        lines.append(message)
    lines.append(f"WARNING: CPU: 0 PID: 1 at {function}")
    return lines
