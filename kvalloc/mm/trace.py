"""Tracepoints: ``alloc_vmap_area``, ``purge_vmap_area_lazy``, ``free_vmap_area_noflush``
(include/trace/events/vmalloc.h) and the simulator's ``vrealloc`` (docs/mm.md#tracepoints).

Example:
    >>> from kvalloc import Kernel
    >>> k = Kernel()
    >>> k.trace.enable("alloc_vmap_area")
    >>> p = k.vmalloc(4096)
    >>> event = str(k.trace.events[0])
    >>> event[:event.index(" vstart")]
    'alloc_vmap_area: va_start: 18446683600570023936 size=8192 align=1'
    >>> event[event.index("vstart"):]
    'vstart=0xffffc90000000000 vend=0xffffe8ffffffffff failed=0'
"""

from __future__ import annotations

import dataclasses
from typing import Final

TRACEPOINTS: Final = {
    "alloc_vmap_area": "va_start: {addr} size={size} align={align} vstart={vstart:#x} "
                       "vend={vend:#x} failed={failed}",
    "purge_vmap_area_lazy": "start={start:#x} end={end:#x} num_purged={npurged}",
    "free_vmap_area_noflush": "va_start={va_start:#x} nr_lazy={nr_lazy} nr_lazy_max={nr_lazy_max}",
    "vrealloc": "p={p:#x} old_size={old_size} new_size={new_size} outcome={outcome}",
}


@dataclasses.dataclass(frozen=True)
class TraceEvent:
    """One recorded event: the tracepoint name and its fields."""

    name: str
    fields: dict[str, int | str]

    def __str__(self) -> str:
        return f"{self.name}: " + TRACEPOINTS[self.name].format(**self.fields)


class Trace:
    """``kernel.trace``: enable tracepoints and read what they recorded."""

    def __init__(self) -> None:
        self.enabled: set[str] = set()
        self.events: list[TraceEvent] = []

    def _names(self, names: tuple[str, ...]) -> tuple[str, ...]:
        for name in names:
            if not isinstance(name, str):
                raise TypeError(f"tracepoint name must be str, not {type(name).__name__}")
            if name not in TRACEPOINTS:
                raise ValueError(f"unknown tracepoint {name!r}; valid: {', '.join(TRACEPOINTS)}")
        return names or tuple(TRACEPOINTS)

    def enable(self, *names: str) -> None:
        """Start recording the named tracepoints (all of them when none is named)."""
        self.enabled.update(self._names(names))

    def disable(self, *names: str) -> None:
        """Stop recording the named tracepoints (all of them when none is named)."""
        self.enabled.difference_update(self._names(names))

    def clear(self) -> None:
        """Forget the recorded events."""
        self.events.clear()

    def emit(self, name: str, **fields: int | str) -> None:
        """Record an event if its tracepoint is enabled."""
        if name in self.enabled:
            self.events.append(TraceEvent(name, fields))
