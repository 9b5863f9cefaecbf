"""The event log helper every example prints with."""

from __future__ import annotations

import pytest

from examples import events
from kvalloc import Kernel, Kmalloc, Layout, ReallocEvent

from . import event_blocks, run_doctests


def test_docstring_examples_hold() -> None:
    run_doctests(events)


def test_one_line_per_event_then_the_totals(capsys: pytest.CaptureFixture[str]) -> None:
    a = Kmalloc(Kernel())
    seen: list[ReallocEvent] = []
    a.observer = seen.append
    p = a.alloc(Layout(100))
    p = a.realloc(p, Layout(1000), Layout(100))
    a.free(p, Layout(1000))
    events.print_events(seen)
    out = capsys.readouterr().out
    assert [e.outcome for e in seen] == ["fresh", "moved", "freed"]
    assert len(event_blocks(out)) == 1
    assert out.splitlines()[-1] == "  total: 3 events (1 fresh, 0 in place, 1 moved, 1 freed), " \
        f"{seen[1].bytes_copied} bytes copied"
