"""A push that fills the buffer turns the push fast path off, so the next push (which must
grow) goes straight to the slow path instead of through a store the push view refuses; a
later push that finds room turns it back on. With exact growth every push is such a push."""

from __future__ import annotations

from typing import Any

import pytest

from containers import EXACT, KVec, KVVec, VVec, u64
from kvalloc import GFP, Kernel, KernelConfig
from kvalloc.tools.bench import fragmented_kernel

from ..helpers import finish_kernel


def fast(v: Any) -> bool:
    return GFP.KERNEL in (v._push_flags, v._push_run_flags)


@pytest.mark.parametrize("kasan", ["off", "generic"])
@pytest.mark.parametrize("make", [
    lambda k: KVec(u64, kernel=k, growth=EXACT),
    lambda k: VVec(u64, kernel=k, growth=EXACT),
    lambda k: KVVec(u64, kernel=k, growth=EXACT),
], ids=["KVec", "VVec", "KVVec"])
def test_exact_growth_pushes_without_the_fast_path_and_keeps_every_value(
        make: Any, kasan: str) -> None:
    k = Kernel(KernelConfig(ram=64 << 20, kasan=kasan))  # type: ignore[arg-type]
    v = make(k)
    for i in range(1200):                      # past a page, so VVec's buffer goes paged
        v.push(i)
        assert len(v) == v.capacity == i + 1 and not fast(v)
        if i % 101 == 0:
            v._check()
    assert v.to_list() == list(range(1200)) and v.stats.reallocs == 1200
    v.pop()
    v.push(7)                                  # room again: back on for the next push
    assert fast(v) is False                    # ... unless this push filled it again
    v.truncate(10)
    v.push(8)                                  # room (a KASAN paged buffer still checks
    v.push(9)                                  # its new push run once)
    assert fast(v) and v.to_list() == [*range(10), 8, 9]
    v._check()
    v.drop()
    finish_kernel(k)


def test_a_full_paged_buffer_takes_its_next_push_the_slow_way() -> None:
    k = fragmented_kernel(8 << 20)
    v = VVec.with_capacity(u64, 1024, kernel=k)        # two pages, a run each
    for i in range(1024):
        v.push(i)
    assert len(v) == v.capacity and fast(v)            # the fast path filled it
    v.push(1024)                                       # refused by the view: grows
    v.truncate(1023)
    v.push(1)
    assert v[-1] == 1 and len(v) == 1024
    v._check()
    v.drop()
    finish_kernel(k)
