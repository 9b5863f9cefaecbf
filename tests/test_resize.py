"""Resizing: random vrealloc / kvrealloc / krealloc sequences against a bytes model, per
profile, with ``check()`` after every step; the test_vmalloc ``vrealloc_test`` workload."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kvalloc import VREALLOC_HISTORY, Kernel, KernelConfig
from kvalloc.tools.lib_test_vmalloc import run_test_vmalloc

from .helpers import quiet

sizes = st.one_of(st.integers(1, 3 * 4096), st.sampled_from([4095, 4096, 4097, 8192, 16384]),
                  st.integers(1, 300_000), st.just(0))


def _resize_sequence(k: Kernel, seq: list[int], seed: int, api: str) -> None:
    rng = random.Random(seed)
    resize = {"vrealloc": k.vrealloc, "kvrealloc": k.kvrealloc, "krealloc": k.krealloc}[api]
    p: int | None = None
    model = b""
    for size in seq:
        if api == "krealloc" and size > 4 << 20:
            continue
        q = resize(p, size)
        if size == 0:
            assert q in (None, 16)               # vrealloc: NULL; kmalloc memory: ZERO_SIZE_PTR
            p, model = None, b""
            k.check()
            continue
        assert q is not None
        keep = min(len(model), size)
        assert k.read(q, keep) == model[:keep]
        # write a random window so the next step has fresh data to preserve
        start = rng.randrange(size)
        data = rng.randbytes(min(size - start, 5000))
        k.write(q + start, data)
        model = (model[:keep] + k.read(q + keep, size - keep))
        model = model[:start] + data + model[start + len(data):]
        assert k.read(q, size) == model
        p = q
        k.check()
    if p is not None:
        k.kvfree(p)
    k.vm_unmap_aliases()
    k.check()
    s = k.stats()
    assert (s.vmap_areas, s.nr_vmalloc_pages, s.slab_pages) == (0, 0, 0)


@pytest.mark.parametrize("profile", VREALLOC_HISTORY)
@settings(max_examples=25, deadline=None)
@given(seq=st.lists(sizes, min_size=1, max_size=12), seed=st.integers(0, 2**16))
def test_vrealloc_preserves_contents_on_every_profile(profile: str, seq: list[int], seed: int) -> None:
    _resize_sequence(Kernel(KernelConfig(vrealloc=profile, ram=64 << 20)), seq, seed, "vrealloc")


@pytest.mark.parametrize("profile", ["9b47d4eea3f7", "latest"])
@pytest.mark.parametrize("kasan", ["generic", "sw_tags"])
@settings(max_examples=20, deadline=None)
@given(seq=st.lists(sizes, min_size=1, max_size=10), seed=st.integers(0, 2**16))
def test_fixed_profiles_are_kasan_clean(profile: str, kasan: str, seq: list[int], seed: int) -> None:
    # check() includes INV-KASAN-3: the shadow marks exactly [p, p + requested_size).
    k = Kernel(KernelConfig(vrealloc=profile, kasan=kasan, ram=64 << 20, seed=seed))  # type: ignore[arg-type]
    _resize_sequence(k, seq, seed, "vrealloc")
    assert k.kasan_reports == []


@pytest.mark.parametrize("api", ["kvrealloc", "krealloc"])
@settings(max_examples=30, deadline=None)
@given(seq=st.lists(sizes, min_size=1, max_size=12), seed=st.integers(0, 2**16))
def test_kv_and_k_realloc_preserve_contents(api: str, seq: list[int], seed: int) -> None:
    _resize_sequence(Kernel(KernelConfig(ram=64 << 20)), seq, seed, api)


@pytest.mark.parametrize("kasan", ["off", "generic", "sw_tags"])
def test_vrealloc_test_workload_passes_on_latest(kasan: str) -> None:
    k = Kernel(KernelConfig(kasan=kasan))  # type: ignore[arg-type]
    k.trace.enable("vrealloc")
    results = run_test_vmalloc(k, run_test_mask=4096, test_loop_count=50)
    assert [(r.name, r.passed, r.failed) for r in results] == [("vrealloc_test", 1, 0)]
    outcomes = [e.fields["outcome"] for e in k.trace.events]
    # NULL -> moved; 4 pages -> moved; 1 page -> shrink (frees 3); half -> shrink; 1 page -> in place
    assert outcomes[:5] == ["moved", "moved", "shrink", "shrink", "grow_in_place"]
    assert k.stats().vrealloc_pages_freed == 3 * 50
    assert k.kasan_reports == []
    k.check()


@pytest.mark.parametrize("profile", VREALLOC_HISTORY[:8])
def test_vrealloc_test_workload_on_older_profiles(profile: str) -> None:
    k = Kernel(KernelConfig(vrealloc=profile))
    with quiet():
        results = run_test_vmalloc(k, run_test_mask=4096, test_loop_count=20)
    assert results[0].passed == 1
    assert k.stats().vrealloc_pages_freed == 0
    k.check()
