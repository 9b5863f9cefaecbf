"""Seeded stress over many containers on one kernel: random actions, copies and pickles among
them, every invariant and the memory accounting checked after every step.

Leak accounting: after each step the kernel holds exactly the buffers the live containers own
(one kmalloc object or one busy vmap area each) and the ``pyobj`` handle table holds exactly
the references the live ``pyobj`` elements make. Short by default; ``KVALLOC_STRESS=full``
runs the long form.
"""

from __future__ import annotations

import contextlib
import os
import random
from collections import Counter
from typing import Any

import pytest

from containers import KBox, KVBox, KVec, KVVec, VBox, VVec, pyobj, u8, u32, u64
from containers.elem import HANDLES
from kvalloc import AllocError, Kernel, KernelConfig
from kvalloc.config import KasanMode

from ..helpers import DUPLICATIONS, duplicate, quiet, untag

FULL = os.environ.get("KVALLOC_STRESS") == "full"
STEPS = 3000 if FULL else 250
SEEDS = range(8) if FULL else range(2)

VECS: list[Any] = [KVec, VVec, KVVec]
BOXES: list[Any] = [KBox, VBox, KVBox]
ELEMS: list[Any] = [u8, u32, u64, pyobj]


def live_kmalloc_objects(k: Kernel) -> int:
    """Objects allocated from the slab caches plus large kmalloc blocks."""
    slab = k.machine.slab
    return (sum(sum(s.live) for c in slab.caches.values() for s in c.slabs.values())
            + len(slab.large))


class Pool:
    """Live containers of the test kernel, each with a Python model of its contents."""

    def __init__(self, k: Kernel, rng: random.Random) -> None:
        self.k = k
        self.rng = rng
        self.vecs: list[tuple[Any, list[Any]]] = []
        self.boxes: list[tuple[Any, Any]] = []
        self.serial = 0

    def value(self, elem: Any) -> Any:
        self.serial += 1
        if elem is pyobj:
            return ("obj", self.serial)                 # tuples pickle and deep-copy
        return self.rng.randrange(1 << (8 * elem.size))

    # -- actions ----------------------------------------------------------------------

    def new_vec(self) -> None:
        cls, elem = self.rng.choice(VECS), self.rng.choice(ELEMS)
        items = [self.value(elem) for _ in range(self.rng.choice([0, 1, 5, 600, 3000]))]
        self.vecs.append((cls(elem, items, kernel=self.k), items))

    def new_box(self) -> None:
        cls, elem = self.rng.choice(BOXES), self.rng.choice(ELEMS)
        x = self.value(elem)
        self.boxes.append((cls.new(elem, x, kernel=self.k), x))

    def grow(self) -> None:
        if not self.vecs:
            return
        v, m = self.rng.choice(self.vecs)
        xs = [self.value(v.elem) for _ in range(self.rng.choice([1, 3, 700]))]
        if self.rng.random() < 0.5:
            for x in xs:
                v.push(x)
        else:
            v.extend_from_slice(xs)
        m.extend(xs)

    def shrink(self) -> None:
        if not self.vecs:
            return
        v, m = self.rng.choice(self.vecs)
        n = self.rng.randint(0, len(m))
        v.truncate(n)
        del m[n:]
        if self.rng.random() < 0.5:
            v.shrink_to_fit()
        else:
            v.shrink_to(self.rng.randint(0, 2 * len(m) + 1))

    def reserve(self) -> None:
        if not self.vecs:
            return
        v, m = self.rng.choice(self.vecs)
        with contextlib.suppress(AllocError):             # refused: nothing changed
            v.reserve(self.rng.choice([1, 100, 5000, 1 << 62]))

    def duplicate(self) -> None:
        pool, is_vec = (self.vecs, True) if self.rng.random() < 0.7 else (self.boxes, False)
        if not pool:
            return
        c, model = self.rng.choice(pool)
        how = self.rng.choice(DUPLICATIONS)
        d = duplicate(c, how)
        if how == "pickle":                              # rebuilt on the default kernel
            assert d.to_list() == model if is_vec else d.value == model
            d.drop()
            return
        assert d.ptr != c.ptr or (is_vec and d.capacity == 0)
        pool.append((d, list(model) if is_vec else model))

    def drop(self) -> None:
        pool = self.vecs if self.rng.random() < 0.6 else self.boxes
        if pool:
            c, _ = pool.pop(self.rng.randrange(len(pool)))
            c.drop()

    def write_box(self) -> None:
        if not self.boxes:
            return
        i = self.rng.randrange(len(self.boxes))
        b, _ = self.boxes[i]
        x = self.value(b.elem)
        b.value = x
        self.boxes[i] = (b, x)

    def purge(self) -> None:
        self.k.vm_unmap_aliases()

    ACTIONS = [(3, new_vec), (2, new_box), (5, grow), (3, shrink), (1, reserve),
               (3, duplicate), (3, drop), (1, write_box), (0.3, purge)]

    # -- checks -----------------------------------------------------------------------

    def verify(self, base_handles: int) -> None:
        k = self.k
        k.check()
        kmalloc = vmalloc = 0
        refs: Counter[int] = Counter()
        def owns(ptr: int) -> None:
            """Count the buffer at ``ptr`` and, for a vmalloc area, its ``pages[]`` array
            (kmalloc'd up to a page, vmalloc'd beyond: ``__vmalloc_area_node()``)."""
            nonlocal kmalloc, vmalloc
            if not k.is_vmalloc_addr(ptr):
                kmalloc += 1
                return
            vmalloc += 1
            va = k.machine.kva.busy.find(untag(ptr))
            assert va is not None and va.vm is not None
            if va.vm.pages_addr:
                owns(va.vm.pages_addr)

        for v, m in self.vecs:
            v._check()
            assert v.to_list() == m
            if v.capacity:
                owns(v.ptr)
            if v.elem is pyobj:
                refs.update(id(x) for x in m)
        for b, x in self.boxes:
            b._check()
            assert b.value == x
            owns(b.ptr)
            if b.elem is pyobj:
                refs[id(x)] += 1
        assert live_kmalloc_objects(k) == kmalloc
        busy = list(k.machine.kva.busy)
        assert len(busy) == vmalloc
        assert sum(va.vm.nr_pages for va in busy if va.vm) == k.stats().nr_vmalloc_pages
        ours = {h: n for h, (_, n) in HANDLES.table.items() if h in refs}
        assert ours == dict(refs) and len(HANDLES.table) - len(ours) == base_handles


@pytest.mark.stress
@pytest.mark.parametrize("kasan", ["off", "generic", "sw_tags"])
@pytest.mark.parametrize("seed", SEEDS)
def test_random_container_actions_keep_every_invariant_and_leak_nothing(
        seed: int, kasan: KasanMode) -> None:
    rng = random.Random(seed)
    k = Kernel(KernelConfig(ram=256 << 20, seed=seed, kasan=kasan))
    pool = Pool(k, rng)
    table = Pool.ACTIONS
    weights = [w for w, _ in table]
    base = len(HANDLES.table)
    with quiet():
        for _ in range(STEPS):
            rng.choices(table, weights)[0][1](pool)
            pool.verify(base)
        while pool.vecs:
            pool.vecs.pop()[0].drop()
        while pool.boxes:
            pool.boxes.pop()[0].drop()
    pool.verify(base)
    k.vm_unmap_aliases()
    k.check()
    s = k.stats()
    assert (s.vmap_areas, s.nr_vmalloc_pages, s.slab_pages, s.free_pages) == (0, 0, 0, s.total_pages)
    assert k.kasan_reports == []
