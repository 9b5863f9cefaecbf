"""Exceptions and warnings of kvalloc (docs/guide.md#errors-and-warnings)."""

from __future__ import annotations


class AllocError(MemoryError):
    """An allocator-API or container allocation failed."""


class LayoutError(ValueError):
    """An invalid :class:`~kvalloc.Layout` (size overflow or alignment not a power of two)."""


class PageFault(Exception):
    """An access to an unmapped address (the kernel would oops)."""


class KasanError(Exception):
    """A KASAN report with ``kasan_fault="panic"``; :attr:`report` holds the text."""

    def __init__(self, report: str) -> None:
        super().__init__(report.splitlines()[1] if "\n" in report else report)
        self.report = report


class KernelPanic(Exception):
    """A WARN while ``panic_on_warn`` is set."""


class KernelBug(AssertionError):
    """A ``BUG_ON`` condition, or :meth:`Kernel.check` finding a broken invariant."""


class KernelWarning(UserWarning):
    """Issued through :func:`warnings.warn` for every WARN and every warn_alloc line."""


class KasanWarning(KernelWarning):
    """Issued for every KASAN report in ``"report"`` mode."""
