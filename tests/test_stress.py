"""Seeded stress: random actions from a registry, ``check()`` after every one.

Short by default; ``KVALLOC_STRESS=full`` runs the long form.
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable

import pytest

from kvalloc import GFP, PMD_SIZE, VREALLOC_HISTORY, Kernel, KernelConfig
from kvalloc.config import KasanMode

from .helpers import quiet

FULL = os.environ.get("KVALLOC_STRESS") == "full"
STEPS = 4000 if FULL else 300
SEEDS = range(12) if FULL else range(3)


class Workload:
    """Live areas and objects with a byte model of what was written into each."""

    def __init__(self, k: Kernel, rng: random.Random) -> None:
        self.k = k
        self.rng = rng
        self.areas: dict[int, tuple[int, bytearray]] = {}    # addr -> (size, model)
        self.objs: dict[int, tuple[int, bytearray]] = {}

    def _vmalloc(self) -> None:
        r = self.rng
        size = r.choice([1, 100, 4096, 5001, 8192, r.randint(1, 300_000)])
        kind = r.random()
        if kind < 0.6:
            p = self.k.vmalloc(size)
        elif kind < 0.75:
            p = self.k.vmalloc(size, GFP.KERNEL, align=4096 << r.randint(0, 9))
        elif kind < 0.9:
            p = self.k.vzalloc(size)
        else:
            p = self.k.vmalloc_huge(r.choice([size, PMD_SIZE, PMD_SIZE + 1]), GFP.KERNEL | GFP.NOWARN)
            size = max(size, 0) if p is None else self.k.find_vm_area(p).requested_size  # type: ignore[union-attr]
        if p is not None:
            data = bytearray(self.k.read(p, size))
            self.areas[p] = (size, data)

    def _vfree(self) -> None:
        if self.areas:
            p = self.rng.choice(list(self.areas))
            del self.areas[p]
            self.k.vfree(p)

    def _bad_free(self) -> None:
        with quiet():
            self.k.vfree(0xFFFFC90000000000 + self.rng.randrange(1 << 30) * 4096 + 1)

    def _kmalloc(self) -> None:
        size = self.rng.choice([1, 8, 65, 96, 100, 192, 1000, 4096, 8192, 9000, 70000])
        p = self.k.kmalloc(size)
        if p is not None:
            self.objs[p] = (size, bytearray(self.k.read(p, size)))

    def _kfree(self) -> None:
        if self.objs:
            p = self.rng.choice(list(self.objs))
            del self.objs[p]
            self.k.kfree(p)

    def _write(self) -> None:
        pool = self.areas if self.areas and self.rng.random() < 0.7 else self.objs
        if not pool:
            return
        p = self.rng.choice(list(pool))
        size, model = pool[p]
        off = self.rng.randrange(size)
        data = self.rng.randbytes(min(size - off, self.rng.randint(1, 9000)))
        self.k.write(p + off, data)
        model[off:off + len(data)] = data

    def _verify(self) -> None:
        for pool in (self.areas, self.objs):
            if pool:
                p = self.rng.choice(list(pool))
                size, model = pool[p]
                assert self.k.read(p, size) == model

    def _memcpy(self) -> None:
        if len(self.areas) >= 2:
            a, b = self.rng.sample(list(self.areas), 2)
            n = min(self.areas[a][0], self.areas[b][0])
            self.k.memcpy(b, a, n)
            self.areas[b][1][:n] = self.areas[a][1][:n]

    def _purge(self) -> None:
        self.k.vm_unmap_aliases()

    def _resize(self) -> None:
        """vrealloc / kvrealloc / krealloc a live allocation; the prefix must survive."""
        r = self.rng
        vm = self.areas and r.random() < 0.6
        pool = self.areas if vm else self.objs
        if not pool:
            return
        p = r.choice(list(pool))
        size, model = pool.pop(p)
        new = r.choice([1, 100, 4096, 5000, 8192, r.randint(1, 300_000)])
        if vm:
            q = (self.k.vrealloc if r.random() < 0.5 else self.k.kvrealloc)(p, new)
        else:
            q = (self.k.krealloc if new <= 8192 else self.k.kvrealloc)(p, new)
        if q is None:                        # a failed grow keeps the old allocation
            pool[p] = (size, model)
            return
        keep = min(size, new)
        assert self.k.read(q, keep) == model[:keep]
        target = self.areas if self.k.is_vmalloc_addr(q) else self.objs
        target[q] = (new, bytearray(self.k.read(q, new)))

    def actions(self) -> list[tuple[float, Callable[[], None]]]:
        return [(5, self._vmalloc), (3, self._vfree), (0.3, self._bad_free), (4, self._kmalloc),
                (3, self._kfree), (4, self._write), (2, self._verify), (1, self._memcpy),
                (0.3, self._purge), (2, self._resize)]


@pytest.mark.stress
@pytest.mark.parametrize("kasan", ["off", "generic", "sw_tags"])
@pytest.mark.parametrize("seed", SEEDS)
def test_random_actions_keep_every_invariant(seed: int, kasan: KasanMode) -> None:
    rng = random.Random(seed)
    # one vmap node, or four (pools of purged areas): the seed picks
    k = Kernel(KernelConfig(ram=64 << 20, lazy_max_pages=256, seed=seed, cpus=(1, 4)[seed % 2],
                            init_on_free=seed % 3 == 1, kasan=kasan,
                            vrealloc=VREALLOC_HISTORY[-1 - seed % 2]))
    w = Workload(k, rng)
    table = w.actions()
    weights = [wt for wt, _ in table]
    with quiet():
        for _ in range(STEPS):
            rng.choices(table, weights)[0][1]()
            k.check()
        for p in list(w.areas):
            w.areas.pop(p)
            k.vfree(p)
        for p in list(w.objs):
            w.objs.pop(p)
            k.kfree(p)
    k.vm_unmap_aliases()
    k.check()
    k.vmap_node_shrink()                 # the pools go back to the free tree
    k.check()
    s = k.stats()
    assert (s.vmap_areas, s.nr_vmalloc_pages, s.slab_pages, s.free_pages) == (0, 0, 0, s.total_pages)
    assert s.vmap_pooled == 0
    assert list(k.machine.kva.free) == [(1, 2**64 - 1)]
    if kasan != "off" and k.machine.profile.kasan_exact:
        assert k.kasan_reports == []     # every access was in bounds
