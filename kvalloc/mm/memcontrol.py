"""Memory cgroup v2 charging for kernel pages (mm/memcontrol.c, docs/mm.md#memcg).

Invariants (checked by ``check_memcg`` in :mod:`kvalloc.mm.check`):
    - a cgroup's ``usage`` (pages) equals the charged pages of it and its descendants;
    - its ``vmalloc`` statistic is 4096 x the vmalloc-marked charged pages of its subtree.

Example:
    >>> from kvalloc import Kernel, GFP
    >>> k = Kernel()
    >>> cg = k.memcg.create("app", max=1 << 20)
    >>> with k.memcg.charge_to(cg):
    ...     p = k.vmalloc(8192, G.KERNEL_ACCOUNT)
    >>> cg.usage, cg.stat()["vmalloc"]
    (8192, 8192)
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

from .._validate import require_int
from ..constants import PAGE_SIZE
from ..gfp import G


class Cgroup:
    """One cgroup: ``memory.max``, ``memory.current``, ``memory.events``, ``memory.stat``."""

    __slots__ = ("name", "parent", "children", "_max", "nr_pages", "nr_vmalloc", "max_events",
                 "may_exceed")

    def __init__(self, name: str, parent: Cgroup | None, max: int | None) -> None:
        self.name = name
        self.parent = parent
        self.children: list[Cgroup] = []
        self._max: int | None = None
        self.nr_pages = 0
        self.may_exceed = False   # set by a __GFP_NOFAIL overcharge or a lowered max (INV-CG-3)
        self.max = max       # hierarchical usage in pages
        self.nr_vmalloc = 0     # hierarchical vmalloc pages
        self.max_events = 0

    def ancestors(self) -> Iterator[Cgroup]:
        """This cgroup and each parent up to, not including, the root (where charges count)."""
        node: Cgroup | None = self
        while node is not None and node.parent is not None:
            yield node
            node = node.parent

    @property
    def path(self) -> str:
        """The cgroup path, ``/`` for the root."""
        if self.parent is None:
            return "/"
        base = self.parent.path
        return base + self.name if base == "/" else f"{base}/{self.name}"

    @property
    def max(self) -> int | None:
        """``memory.max`` in bytes, or None for ``max`` (unlimited). Settable."""
        return self._max

    @max.setter
    def max(self, value: int | None) -> None:
        if value is not None:
            value = require_int("memory.max", value, 0)
            if value < self.usage:
                self.may_exceed = True
        self._max = value

    @property
    def usage(self) -> int:
        """``memory.current`` in bytes (descendants included)."""
        return self.nr_pages * PAGE_SIZE

    def stat(self) -> dict[str, int]:
        """``memory.stat`` subset: ``kernel`` and ``vmalloc`` in bytes, hierarchical."""
        return {"kernel": self.nr_pages * PAGE_SIZE, "vmalloc": self.nr_vmalloc * PAGE_SIZE}

    def events(self) -> dict[str, int]:
        """``memory.events``: ``max`` counts charges that hit a limit here or below."""
        return {"low": 0, "high": 0, "max": self.max_events, "oom": 0, "oom_kill": 0,
                "oom_group_kill": 0}

    def __repr__(self) -> str:
        return f"Cgroup({self.path!r}, usage={self.usage}, max={self.max})"


class MemCgroups:
    """``kernel.memcg``: the cgroup tree and the per-thread charge target."""

    def __init__(self) -> None:
        self.root = Cgroup("", None, None)
        self._local = threading.local()

    def create(self, name: str, parent: Cgroup | None = None, max: int | None = None) -> Cgroup:
        """Create a child cgroup of ``parent`` (the root by default). O(children)."""
        if not isinstance(name, str):
            raise TypeError(f"cgroup name must be str, not {type(name).__name__}")
        if not name or "/" in name:
            raise ValueError(f"invalid cgroup name {name!r}")
        parent = self.root if parent is None else parent
        self._own(parent, "parent")
        if any(c.name == name for c in parent.children):
            raise ValueError(f"cgroup {name!r} already exists under {parent.path}")
        cg = Cgroup(name, parent, max)
        parent.children.append(cg)
        return cg

    def _own(self, cg: object, what: str) -> None:
        """TypeError unless ``cg`` is a Cgroup; ValueError unless it is in this tree."""
        if not isinstance(cg, Cgroup):
            raise TypeError(f"{what} needs a Cgroup, not {type(cg).__name__}")
        top = cg
        while top.parent is not None:
            top = top.parent
        if top is not self.root:
            raise ValueError(f"{cg!r} belongs to another Kernel")

    @property
    def current(self) -> Cgroup:
        """The calling thread's charge target (``set_active_memcg``)."""
        cg: Cgroup = getattr(self._local, "cg", self.root)
        return cg

    @contextlib.contextmanager
    def charge_to(self, cg: Cgroup) -> Iterator[Cgroup]:
        """Charge ``__GFP_ACCOUNT`` allocations of this thread to ``cg`` inside the block."""
        self._own(cg, "charge_to")
        old = self.current
        self._local.cg = cg
        try:
            yield cg
        finally:
            self._local.cg = old

    def try_charge(self, gfp: int, nr_pages: int) -> tuple[bool, Cgroup | None]:
        """Charge ``nr_pages`` for an ``__GFP_ACCOUNT`` allocation (docs/mm.md#charging).

        Returns ``(ok, cgroup)``: ``cgroup`` is None when nothing was charged (root target).
        """
        cg = self.current
        if cg.parent is None:
            return True, None
        lowest = next((node for node in cg.ancestors() if node.max is not None
                       and (node.nr_pages + nr_pages) * PAGE_SIZE > node.max), None)
        if lowest is not None:
            for up in lowest.ancestors():
                up.max_events += 1
            if not gfp & G.NOFAIL:
                return False, None
            for up in lowest.ancestors():
                up.may_exceed = True
        for node in cg.ancestors():
            node.nr_pages += nr_pages
        return True, cg

    @staticmethod
    def uncharge(cg: Cgroup, nr_pages: int) -> None:
        """Give back ``nr_pages`` of ``cg``'s charge, up the hierarchy."""
        for node in cg.ancestors():
            node.nr_pages -= nr_pages

    @staticmethod
    def mod_vmalloc(cg: Cgroup, delta: int) -> None:
        """Adjust the hierarchical ``vmalloc`` statistic by ``delta`` pages."""
        for node in cg.ancestors():
            node.nr_vmalloc += delta

    def walk(self) -> Iterator[Cgroup]:
        """Every cgroup, root first, depth-first."""
        stack = [self.root]
        while stack:
            cg = stack.pop()
            yield cg
            stack.extend(reversed(cg.children))
