"""Architecture constants (kvalloc.constants)."""

from __future__ import annotations

import pytest

import kvalloc
from kvalloc import (
    KMALLOC_MAX_SIZE,
    NUMA_NO_NODE,
    PAGE_SIZE,
    VMALLOC_END,
    VMALLOC_START,
    ZERO_SIZE_PTR,
)

from .helpers import MIB

pytestmark = pytest.mark.spec


def test_constants_api_1() -> None:
    assert kvalloc.PAGE_SHIFT == 12 and PAGE_SIZE == 4096
    assert kvalloc.PMD_SHIFT == 21 and kvalloc.PMD_SIZE == 2 * MIB
    assert VMALLOC_START == 0xFFFFC90000000000
    assert VMALLOC_END == 0xFFFFE8FFFFFFFFFF
    assert kvalloc.KMALLOC_MAX_CACHE_SIZE == 8192
    assert KMALLOC_MAX_SIZE == 4 * MIB
    assert kvalloc.MAX_PAGE_ORDER == 10
    assert NUMA_NO_NODE == -1
    assert ZERO_SIZE_PTR == 16
