"""Growth policies (containers.growth): the policy functions and how vectors use them."""

from __future__ import annotations

from typing import Any

import pytest

from containers import (
    CPYTHON_LIST,
    EXACT,
    FACTOR_1_5,
    RUST_KVEC,
    RUST_STD,
    KVec,
    KVVec,
    Struct,
    Vec,
    VVec,
    u8,
    u16,
    u32,
    u64,
)
from kvalloc import Kernel

from ..helpers import VEC_CLASSES, VecClass, class_name as _name

pytestmark = [pytest.mark.spec, pytest.mark.filterwarnings("ignore::kvalloc.KernelWarning")]


def test_growth_policy_functions() -> None:
    assert [RUST_KVEC(c, c + 1, 8) for c in (0, 1, 2, 4, 8)] == [1, 2, 4, 8, 16]
    assert RUST_KVEC(4, 100, 8) == 100
    assert RUST_STD(0, 1, 1) == 8 and RUST_STD(0, 1, 4) == 4 and RUST_STD(0, 1, 2048) == 1
    assert EXACT(10, 11, 8) == 11
    assert FACTOR_1_5(10, 11, 8) == 15
    for policy in (RUST_KVEC, RUST_STD, CPYTHON_LIST, FACTOR_1_5, EXACT):
        for cap in range(0, 40):
            for extra in (1, 2, 7, 100):
                assert policy(cap, cap + extra, 4) >= cap + extra


def _capacities(v: Vec[Any, Any], n: int, value: Any = 0) -> list[int]:
    caps: list[int] = []
    for _ in range(n):
        v.push(value)
        if not caps or caps[-1] != v.capacity:
            caps.append(v.capacity)
    return caps


@pytest.mark.parametrize("cls", VEC_CLASSES, ids=_name)
def test_default_growth_is_rust_kvec_doubling(k: Kernel, cls: VecClass) -> None:
    v = cls(u32, kernel=k)
    assert _capacities(v, 100) == [1, 2, 4, 8, 16, 32, 64, 128]
    w = cls(u64, kernel=k, growth=RUST_KVEC)
    assert _capacities(w, 9) == [1, 2, 4, 8, 16]
    v.drop()
    w.drop()


def test_growth_rust_std(k: Kernel) -> None:
    # std RawVec MIN_NON_ZERO_CAP: 8 for 1-byte elements, 4 up to 1 KiB, else 1
    assert _capacities(KVec(u8, kernel=k, growth=RUST_STD), 20) == [8, 16, 32]
    assert _capacities(KVec(u32, kernel=k, growth=RUST_STD), 20) == [4, 8, 16, 32]
    big = Struct("2000s")
    assert _capacities(VVec(big, kernel=k, growth=RUST_STD), 5, (b"",)) == [1, 2, 4, 8]


def test_growth_cpython_list(k: Kernel) -> None:
    # Objects/listobject.c: "The growth pattern is:  0, 4, 8, 16, 24, 32, 40, 52, 64, 76, ..."
    v = KVec(u32, kernel=k, growth=CPYTHON_LIST)
    assert _capacities(v, 70) == [4, 8, 16, 24, 32, 40, 52, 64, 76]


def test_growth_factor_1_5_and_exact(k: Kernel) -> None:
    assert _capacities(VVec(u32, kernel=k, growth=FACTOR_1_5), 28) == [1, 2, 3, 4, 6, 9, 13,
                                                                       19, 28]
    assert _capacities(KVVec(u32, kernel=k, growth=EXACT), 6) == [1, 2, 3, 4, 5, 6]


def test_growth_callable(k: Kernel) -> None:
    seen: list[tuple[int, int, int]] = []

    def plus_three(cap: int, required: int, elem_size: int) -> int:
        seen.append((cap, required, elem_size))
        return required + 3

    v = KVec(u64, kernel=k, growth=plus_three)
    assert _capacities(v, 10) == [4, 8, 12]
    assert seen == [(0, 1, 8), (4, 5, 8), (8, 9, 8)]
    v.extend_from_slice(range(5))          # 10 + 5 > 12: one call with required = 15
    assert seen[-1] == (12, 15, 8) and v.capacity == 18
    lam = VVec(u16, kernel=k, growth=lambda c, r, s: 2 * r)
    assert _capacities(lam, 5) == [2, 6]
    v.drop()
    lam.drop()


def test_growth_applies_to_reserve_and_extend(k: Kernel) -> None:
    v = KVec(u32, range(4), kernel=k)
    v.extend_from_slice([4, 5, 6, 7, 8])            # max(2 * 4, 9)
    assert v.capacity == 9
    v.reserve(1)                                    # max(18, 10)
    assert v.capacity == 18
    e = KVec(u32, range(4), kernel=k, growth=EXACT)
    e.reserve(5)
    assert e.capacity == 9
    v.drop()
    e.drop()
