"""Tests of the worked data structures in ``examples/``: each against a Python model, with a
seeded random run, a leak check and a check of the event log its ``main()`` prints.

The helpers below read that log: every example prints the same lines (``print_events``).
"""

from __future__ import annotations

import doctest
import pathlib
import re
import subprocess
import sys
from types import ModuleType

from kvalloc import ReallocEvent

ROOT = pathlib.Path(__file__).resolve().parent.parent.parent

#: One event line of ``print_events``.
EVENT = re.compile(r"  #(\d+) +(fresh|in_place|moved|freed|failed) +(\d+) -> +(\d+) B  "
                   r"held +(\d+) B  (kmalloc|vmalloc|vmalloc_huge) +copied +(\d+) B")
#: The totals line that ends a block of event lines.
TOTAL = re.compile(r"  total: (\d+) events? \((\d+) fresh, (\d+) in place, (\d+) moved, "
                   r"(\d+) freed\), (\d+) bytes copied")

#: What a printed event line shows of an event.
Shown = tuple[str, int, int, int, str, int]


def shown(e: ReallocEvent) -> Shown:
    """The fields of ``e`` an event line prints: outcome, old and new bytes, held, backing,
    bytes copied."""
    return e.outcome, e.old_bytes, e.new_bytes, e.new_allocated, e.backing, e.bytes_copied


def event_blocks(out: str) -> list[list[Shown]]:
    """The blocks of event lines in ``out``, each checked against the totals line ending it:
    the event count, the count of each outcome and the bytes copied must add up."""
    blocks: list[list[Shown]] = []
    block: list[Shown] = []
    for line in out.splitlines():
        m = EVENT.fullmatch(line)
        if m:
            assert int(m[1]) == len(block), f"event numbers out of order at {line!r}"
            block.append((m[2], int(m[3]), int(m[4]), int(m[5]), m[6], int(m[7])))
            continue
        t = TOTAL.fullmatch(line)
        if t:
            n, fresh, in_place, moved, freed, copied = (int(g) for g in t.groups())
            outcomes = [b[0] for b in block]
            if block:                   # a totals line may stand alone (print_total)
                assert n == len(block), line
                assert copied == sum(b[5] for b in block), line
                assert (fresh, in_place, moved, freed) == tuple(
                    outcomes.count(o) for o in ("fresh", "in_place", "moved", "freed")), line
            blocks.append(block)
            block = []
            continue
        assert not line.lstrip().startswith(("#", "total")), f"malformed log line {line!r}"
    assert not block, "event lines without a totals line"
    return blocks


def run_entry_point(module: str) -> str:
    """The output of ``python -m examples.<module>`` run from the repository's root."""
    done = subprocess.run([sys.executable, "-m", f"examples.{module}"], cwd=ROOT,
                          capture_output=True, text=True, check=False, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def run_doctests(module: ModuleType) -> None:
    """Run the examples in ``module``'s docstrings (pytest's default run does not collect
    ``examples/``), failing on the first that does not hold."""
    failed, tried = doctest.testmod(module, raise_on_error=False, report=True)
    assert tried > 0 and failed == 0, f"{failed} of {tried} doctests of {module.__name__} failed"
