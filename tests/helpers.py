"""Shared test helpers: stats comparison that ignores the warnings counter, quiet warnings."""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from kvalloc import Kernel, KernelStats, KernelWarning


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


def warn_lines(message: str | None, function: str) -> list[str]:
    """The dmesg lines of a WARN (or WARN_ON when message is None)."""
    lines = ["------------[ cut here ]------------"]
    if message is not None:
        lines.append(message)
    lines.append(f"WARNING: CPU: 0 PID: 1 at {function}")
    return lines


_ = KernelStats
