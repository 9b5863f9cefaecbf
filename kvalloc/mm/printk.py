"""The kernel log (``dmesg``) and the WARN / warn_alloc / BUG families (docs/mm.md#kernel-log).

Invariants:
    - ``lines`` only grows; every printed WARN and warn_alloc line bumps ``nr_warnings``
      and is issued as a :class:`KernelWarning`.
    - A ``WARN_ONCE`` site prints at most once per kernel; the code after it still runs.
"""

from __future__ import annotations

import warnings

from ..errors import KernelBug, KernelPanic, KernelWarning
from ..gfp import G, format_gfp

CUT_HERE = "------------[ cut here ]------------"


class KernelLog:
    """``printk`` and friends for one simulated kernel."""

    __slots__ = ("lines", "nr_warnings", "panic_on_warn", "comm", "pid", "_once")

    def __init__(self, panic_on_warn: bool) -> None:
        self.lines: list[str] = []
        self.nr_warnings = 0
        self.panic_on_warn = panic_on_warn
        self.comm = "kvalloc"
        self.pid = 1
        self._once: set[str] = set()

    def pr(self, line: str) -> None:
        """``pr_warn`` / ``pr_info``: log one line verbatim."""
        self.lines.append(line)

    def _warn(self, message: str | None, function: str) -> None:
        self.lines.append(CUT_HERE)
        if message is not None:
            self.lines.append(message.rstrip("\n"))
        self.lines.append(f"WARNING: CPU: 0 PID: {self.pid} at {function}")
        self.nr_warnings += 1
        warnings.warn(message.rstrip("\n") if message else f"WARNING at {function}",
                      KernelWarning, stacklevel=4)
        if self.panic_on_warn:
            self.lines.append("Kernel panic - not syncing: kernel: panic_on_warn set ...")
            raise KernelPanic(f"panic_on_warn: WARNING at {function}")

    def WARN(self, function: str, message: str) -> None:
        """``WARN(1, fmt, ...)`` inside ``function``."""
        self._warn(message, function)

    def WARN_ON(self, function: str) -> None:
        """``WARN_ON(1)`` inside ``function``."""
        self._warn(None, function)

    def WARN_ONCE(self, function: str, message: str | None, site: str | None = None) -> None:
        """``WARN_ONCE`` / ``WARN_ON_ONCE`` (``message=None``): print on the first hit only."""
        key = site or f"{function}:{message if message is None else message.split('%')[0][:24]}"
        if key in self._once:
            return
        self._once.add(key)
        self._warn(message, function)

    def warn_alloc(self, gfp: int, message: str) -> None:
        """``warn_alloc()``: one line unless ``__GFP_NOWARN``; never panics."""
        if gfp & G.NOWARN:
            return
        line = (f"{self.comm}: {message}, mode:{int(gfp):#x}({format_gfp(gfp)}), "
                "nodemask=(null),cpuset=/,mems_allowed=0")
        self.lines.append(line)
        self.nr_warnings += 1
        warnings.warn(line, KernelWarning, stacklevel=4)

    def BUG(self, function: str, why: str = "") -> KernelBug:
        """``BUG()``: log the line and return the exception for the caller to raise."""
        self.lines.append(f"kernel BUG at {function}!")
        return KernelBug(f"kernel BUG at {function}!" + (f" ({why})" if why else ""))


def fmt_p(addr: int) -> str:
    """``%p`` as rendered with ``no_hash_pointers``: 16 hex digits, no ``0x``."""
    return f"{addr & 0xFFFFFFFFFFFFFFFF:016x}"
