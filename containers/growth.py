"""Growth policies: the new capacity when a vector needs room (docs/guide.md#growth-policies).

A policy is any callable ``(cap, required, elem_size) -> new_cap`` with ``new_cap >= required``.

>>> [RUST_KVEC(c, c + 1, 8) for c in (0, 1, 2, 4)]
[1, 2, 4, 8]
>>> RUST_STD(0, 1, 8), CPYTHON_LIST(0, 1, 8), FACTOR_1_5(4, 5, 8), EXACT(4, 5, 8)
(4, 4, 6, 5)
"""

from __future__ import annotations

from typing import Final, Protocol


class GrowthPolicy(Protocol):
    """``(cap, required, elem_size) -> new capacity >= required``."""

    def __call__(self, cap: int, required: int, elem_size: int, /) -> int: ...


class Growth:
    """A named growth policy; the presets pickle by name, others by ``(name, fn)``."""

    __slots__ = ("name", "fn")

    def __init__(self, name: str, fn: GrowthPolicy) -> None:
        self.name = name
        self.fn = fn                    # called directly by the vectors (one call, not two)

    def __call__(self, cap: int, required: int, elem_size: int, /) -> int:
        return self.fn(cap, required, elem_size)

    def __repr__(self) -> str:
        return self.name

    def __reduce__(self) -> str | tuple[object, ...]:
        name: str = self.name
        if globals().get(name) is self:
            return name
        return Growth, (self.name, self.fn)


def _rust_kvec(cap: int, required: int, elem_size: int, /) -> int:
    # Rust-for-Linux Vec::reserve: max(2 * cap, len + additional), no minimum capacity
    return max(cap * 2, required)


def _rust_std(cap: int, required: int, elem_size: int, /) -> int:
    # std's RawVec: MIN_NON_ZERO_CAP is 8 for 1-byte, 4 up to 1 KiB, else 1
    minimum = 8 if elem_size == 1 else 4 if elem_size <= 1024 else 1
    return max(cap * 2, required, minimum)


def _cpython_list(cap: int, required: int, elem_size: int, /) -> int:
    # Objects/listobject.c list_resize, with the current capacity as the old size
    new = (required + (required >> 3) + 6) & ~3
    if required - cap > new - required:
        new = (required + 3) & ~3
    return max(new, required)


def _factor_1_5(cap: int, required: int, elem_size: int, /) -> int:
    return max(cap + cap // 2, required)


def _exact(cap: int, required: int, elem_size: int, /) -> int:
    return required


RUST_KVEC: Final = Growth("RUST_KVEC", _rust_kvec)
RUST_STD: Final = Growth("RUST_STD", _rust_std)
CPYTHON_LIST: Final = Growth("CPYTHON_LIST", _cpython_list)
FACTOR_1_5: Final = Growth("FACTOR_1_5", _factor_1_5)
EXACT: Final = Growth("EXACT", _exact)

POLICIES: Final = {"rust_kvec": RUST_KVEC, "rust_std": RUST_STD, "cpython_list": CPYTHON_LIST,
                   "factor_1_5": FACTOR_1_5, "exact": EXACT}

__all__ = ["CPYTHON_LIST", "EXACT", "FACTOR_1_5", "Growth", "GrowthPolicy", "POLICIES",
           "RUST_KVEC", "RUST_STD"]
