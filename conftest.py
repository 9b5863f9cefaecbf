"""Doctest namespace: the method examples of ``containers`` assume ``from containers import *``
and ``from kvalloc import Kernel`` (as their module docstrings say)."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture(autouse=True)
def _doctest_names(doctest_namespace: dict[str, Any]) -> None:
    import containers
    from kvalloc import Kernel

    doctest_namespace.update({name: getattr(containers, name) for name in containers.__all__})
    doctest_namespace["Kernel"] = Kernel
