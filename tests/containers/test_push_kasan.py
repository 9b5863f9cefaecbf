"""The push fast path with KASAN on: no per-push generation check, so the shadow itself turns
the fast path off when it changes (``Kasan.on_next_change``), and the next push is checked
again, as ``Kernel.write`` would check it."""

from __future__ import annotations

import gc
import re
import weakref
from typing import Any

import pytest

from containers import VVec, u64
from containers._owner import GIVEN_AWAY
from kvalloc import GFP, Kernel, KernelBug, KernelConfig
from kvalloc.mm.access import DirectView
from kvalloc.tools.bench import fragmented_kernel

from ..helpers import finish_kernel


def kasan_kernel() -> Kernel:
    return Kernel(KernelConfig(ram=64 << 20, kasan="generic"))


def fast(v: VVec[int]) -> bool:
    return GFP.KERNEL in (v._push_flags, v._push_run_flags)


def test_a_push_into_memory_freed_behind_the_vectors_back_is_reported() -> None:
    k = kasan_kernel()
    v = VVec.with_capacity(u64, 1000, kernel=k)
    v.push(1)
    v.push(2)
    assert fast(v) and v._room == 1000
    v._check()
    k.vfree(v.ptr)                                     # the shadow is poisoned: 0xF8
    assert not fast(v)
    with pytest.warns(match="KASAN"):
        v.push(3)
    (r,) = k.kasan_reports
    assert (r.bug_type, r.access, r.addr, r.size) == ("vmalloc-out-of-bounds", "Write",
                                                      v.ptr + 16, 8)
    assert r.text.splitlines()[1] == "BUG: KASAN: vmalloc-out-of-bounds in push"
    v._state = GIVEN_AWAY                              # its memory is gone: nothing to drop
    v._view, v._room = None, -1


def test_a_shadow_change_elsewhere_costs_one_checked_push() -> None:
    k = kasan_kernel()
    v = VVec.with_capacity(u64, 1000, kernel=k)
    v.push(1)
    assert fast(v)
    other = k.vmalloc(4096)                            # unpoisons its own shadow
    assert other is not None and not fast(v)
    v._check()
    v._push_flags = GFP.KERNEL                         # as if the change had gone unseen
    with pytest.raises(KernelBug, match=re.escape(
            "VVec R3: the push fast path is on but the buffer has a KASAN room of generation")):
        v._check()
    v._push_flags = v._push_run_flags = object()
    v.push(2)                                          # the slow way: checked, room renewed
    assert fast(v) and v._kwatch
    v._check()
    for i in range(3, 1001):
        v.push(i)
        if i % 97 == 0:
            v._check()
    assert v.to_list() == list(range(1, 1001)) and len(v) == v.capacity
    k.vfree(other)
    assert not fast(v)
    v.push(1001)                                       # grows: a new buffer, a new room
    assert fast(v)
    v._check()
    v.drop()
    v._check()
    finish_kernel(k)


def test_one_pending_callback_per_vector_however_often_it_rechecks() -> None:
    k = fragmented_kernel(8 << 20, kasan="generic")
    v = VVec.with_capacity(u64, 4096, kernel=k)        # 8 pages, a run each: 8 retargets
    kasan = k.machine.kasan
    assert kasan is not None
    for i in range(4096):
        v.push(i)
    assert v._tend - v._tbase == 512 and v.to_list() == list(range(4096))
    assert len(kasan._on_change) == 1
    v._check()
    v.drop()
    finish_kernel(k)


def test_the_shadow_does_not_keep_a_vector_alive() -> None:
    k = kasan_kernel()
    v = VVec.with_capacity(u64, 100, kernel=k)
    v.push(1)
    assert fast(v)
    ref = weakref.ref(v)
    del v
    gc.collect()
    assert ref() is None
    p = k.vmalloc(100)                                 # the dead vector's callback is skipped
    assert p is not None
    k.vfree(p)
    finish_kernel(k)


def test_a_shadow_change_while_the_room_is_checked_keeps_the_fast_path_off(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Another thread may change the shadow between the room's computation and the
    callback's registration, or run the callback at once: neither leaves a stale room on."""
    k = kasan_kernel()
    kasan = k.machine.kasan
    assert kasan is not None
    v = VVec.with_capacity(u64, 100, kernel=k)
    others: list[int] = []

    def change() -> None:
        p = k.vmalloc(64)
        assert p is not None
        others.append(p)

    view_type = DirectView
    room = view_type.room

    def room_then_change(self: Any) -> int:
        got = room(self)
        change()                                   # after the room, before the callback
        return got

    monkeypatch.setattr(view_type, "room", room_then_change)
    v.push(1)
    assert not fast(v)
    v._check()
    monkeypatch.undo()
    register = kasan.on_next_change

    def register_then_change(callback: Any) -> None:
        register(callback)
        change()                                   # the callback runs before the check ends

    monkeypatch.setattr(kasan, "on_next_change", register_then_change)
    v.push(2)
    assert not fast(v) and not v._kwatch
    v._check()
    monkeypatch.undo()
    v.push(3)                                      # a quiet check: on, with a callback
    assert fast(v) and v._kwatch and len(kasan._on_change) == 1
    change()
    assert not fast(v)
    v._check()
    assert v.to_list() == [1, 2, 3]
    v.drop()
    for p in others:
        k.vfree(p)
    finish_kernel(k)
