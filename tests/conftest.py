"""Shared fixtures: fresh kernels for the allocator and container tests, checked at teardown.

A test using ``k`` runs with KASAN off and with generic KASAN; every kernel fixture asserts at
teardown that no KASAN report was produced and that ``Kernel.check()`` finds every invariant
intact.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from kvalloc import Kernel, KernelConfig

from .helpers import finish_kernel as _finish


@pytest.fixture(params=["off", "generic"])
def k(request: pytest.FixtureRequest) -> Iterator[Kernel]:
    """A fresh kernel, with KASAN off and with generic KASAN; no KASAN report at the end."""
    kern = Kernel(KernelConfig(kasan=request.param))
    yield kern
    _finish(kern)


@pytest.fixture
def k_off() -> Iterator[Kernel]:
    """A fresh kernel without KASAN (for the heavier tests)."""
    kern = Kernel()
    yield kern
    _finish(kern)
