"""KernelConfig (kvalloc.config): the vrealloc profiles and lazy_max_pages."""

from __future__ import annotations

import pytest

import kvalloc
from kvalloc import Kernel, KernelConfig

from .helpers import HIST

pytestmark = pytest.mark.spec


def test_history_tuple() -> None:
    assert kvalloc.VREALLOC_HISTORY == HIST  # API.md 3
    assert KernelConfig().vrealloc == "latest"  # API.md 3 / KERNEL.md 17 default


def test_unknown_profile_raises_value_error_listing_valid_ones() -> None:
    with pytest.raises(ValueError) as ei:  # API.md 3
        Kernel(KernelConfig(vrealloc="deadbeef1234"))
    for commit in HIST:
        assert commit in str(ei.value)


@pytest.mark.parametrize(
    ("cpus", "pages"), [(1, 8192), (2, 16384), (3, 16384), (4, 24576), (7, 24576), (8, 32768),
                        (15, 32768), (16, 40960), (31, 40960)]
)
def test_lazy_max_pages_by_cpus(cpus: int, pages: int) -> None:
    k = Kernel(KernelConfig(cpus=cpus))
    assert k.stats().lazy_max_pages == pages  # 1.3


def test_lazy_max_pages_override() -> None:
    assert Kernel(KernelConfig(lazy_max_pages=100, cpus=16)).stats().lazy_max_pages == 100


@pytest.mark.parametrize("field, value", [("kasan", None), ("kasan", 1), ("kasan_fault", True),
                                          ("vrealloc", 9)])
def test_kernel_config_wrong_types_raise_type_error(field: str, value: object) -> None:
    with pytest.raises(TypeError, match=f"KernelConfig.{field} must be str"):
        KernelConfig(**{field: value})  # type: ignore[arg-type]
