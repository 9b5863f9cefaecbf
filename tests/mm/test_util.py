"""krealloc and the kv* family (kvalloc.mm.util): kvmalloc, kvrealloc, kvrealloc_old, kvfree."""

from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from kvalloc import (
    GFP,
    PAGE_SIZE,
    VM,
    ZERO_SIZE_PTR,
    Kernel,
    KernelBug,
    KernelConfig,
    PageFault,
)

from ..helpers import (
    ALL_PROFILES as ALL,
    MIB,
    VS,
    alloc,
    area,
    nn,
    nonzero_pattern as pattern,
    profile_kernel as mk,
    resize_sequence as _resize_sequence,
    resize_sizes as sizes,
    vrealloc_events as events,
    warn_lines as warn,
)

pytestmark = pytest.mark.filterwarnings("ignore::kvalloc.KernelWarning")


# -- helpers ---------------------------------------------------------------------------------------


INT_MAX = 2**31 - 1  # KERNEL.md 1.1


# -- krealloc (11.3) -------------------------------------------------------------------------------


@pytest.mark.spec
def test_krealloc_in_place_within_ksize_and_move() -> None:
    k = Kernel()
    p = k.kmalloc(100)
    assert p is not None and k.ksize(p) == 128  # 11.1
    data = pattern(128)
    k.write(p, data)
    assert k.krealloc(p, 128) == p  # 11.3 step 4
    assert k.krealloc(p, 50) == p
    assert k.read(p, 128) == data  # nothing zeroed without __GFP_ZERO / init_on_alloc
    q = k.krealloc(p, 129)
    assert q is not None and q != p and k.ksize(q) == 192
    assert k.read(q, 128) == data  # copies min(129, ksize = 128)
    with pytest.raises(KernelBug):  # p was kfree'd (11.1: not a live object)
        k.ksize(p)
    assert k.stats().vrealloc_calls == 0
    k.check()


@pytest.mark.spec
@pytest.mark.parametrize("mode", ["gfp_zero", "init_on_alloc", "plain"])
def test_krealloc_zeroes_spare_bytes(mode: str) -> None:
    k = Kernel(KernelConfig(init_on_alloc=(mode == "init_on_alloc")))
    p = k.kmalloc(100)
    assert p is not None
    k.write(p, b"\xaa" * 128)
    gfp = GFP.KERNEL | GFP.ZERO if mode == "gfp_zero" else GFP.KERNEL
    assert k.krealloc(p, 50, gfp) == p
    tail = b"\xaa" * 78 if mode == "plain" else bytes(78)  # 11.3 step 4: zero [50, ks)
    assert k.read(p, 128) == b"\xaa" * 50 + tail
    k.check()


@pytest.mark.spec
def test_krealloc_size_zero_and_null() -> None:
    k = Kernel()
    p = k.kmalloc(100)
    assert p is not None
    assert k.stats().slab_pages == 1
    assert k.krealloc(p, 0) == ZERO_SIZE_PTR  # 11.3 step 1
    assert k.stats().slab_pages == 0  # 11.2: empty slab returned at once
    q = k.krealloc(None, 100)  # step 2
    assert q is not None and k.ksize(q) == 128
    r = k.krealloc(ZERO_SIZE_PTR, 20)
    assert r is not None and k.ksize(r) == 32
    assert k.krealloc(None, 0) == ZERO_SIZE_PTR
    assert not k.is_vmalloc_addr(q)
    k.check()


@pytest.mark.spec
def test_krealloc_large_kmalloc() -> None:
    k = Kernel()
    p = k.kmalloc(10000)
    assert p is not None and k.ksize(p) == 16384  # 11.1: 4096 << get_order
    data = pattern(16384)
    k.write(p, data)
    assert k.krealloc(p, 16384) == p
    q = k.krealloc(p, 16385)
    assert q is not None and q != p and k.ksize(q) == 32768
    assert k.read(q, 16384) == data
    k.check()


@pytest.mark.spec
def test_krealloc_alignment() -> None:
    k = Kernel()
    p1 = k.kmalloc(100)
    p2 = k.kmalloc(100)
    assert p1 is not None and p2 is not None
    assert p2 == p1 + 128 and p1 % 4096 == 0  # 11.2: objects at 0, class, ... of the slab
    k.write(p2, pattern(128))
    assert k.krealloc(p1, 50, align=256) == p1
    q = k.krealloc(p2, 50, align=256)  # 11.3 step 3: not aligned -> new kmalloc(50)
    assert q is not None and q != p2 and k.ksize(q) == 64
    # copies min(new_size, ks) = 50 bytes into a fresh kmalloc-64 slab (zero frames, 4.1)
    assert k.read(q, 64) == pattern(128)[:50] + bytes(14)
    k.check()


@pytest.mark.spec
def test_krealloc_failure_keeps_p() -> None:
    k = Kernel()
    p = k.kmalloc(100)
    assert p is not None
    k.write(p, pattern(100))
    k.fault.failslab(probability=1.0, interval=1, times=-1)
    assert k.krealloc(p, 300) is None  # 11.3 step 6
    k.fault.clear()
    assert k.ksize(p) == 128 and k.read(p, 100) == pattern(100)
    k.check()


# -- kvmalloc (11.4) -------------------------------------------------------------------------------


@pytest.mark.spec
def test_kvmalloc_one_page_rule_and_huge_fallback() -> None:
    k = Kernel()
    a = k.kvmalloc(4096)
    b = k.kvmalloc(4097)  # kmalloc-8k succeeds: no fallback
    assert a is not None and b is not None
    assert not k.is_vmalloc_addr(a) and not k.is_vmalloc_addr(b)
    big_kmalloc = k.kvmalloc(3 * MIB)  # 11.4 step 1: a large kmalloc up to 4 MiB
    assert big_kmalloc is not None and not k.is_vmalloc_addr(big_kmalloc)
    assert k.ksize(big_kmalloc) == 4 * MIB
    n = len(k.dmesg)
    c = k.kvmalloc(8 * MIB)  # kmalloc order 11 fails silently (__GFP_NOWARN added)
    assert c is not None and k.is_vmalloc_addr(c)
    assert k.dmesg[n:] == []
    ac = area(k, c)
    assert ac.page_order == 9 and VM.ALLOW_HUGE_VMAP in ac.flags and ac.caller == "kvmalloc"
    assert ac.nr_pages == 2048
    d = k.kvmalloc(8 * MIB, GFP.NOWAIT)  # cannot block: vm_flags 0, small pages
    assert d is not None
    ad = area(k, d)
    assert ad.page_order == 0 and VM.ALLOW_HUGE_VMAP not in ad.flags
    k.check()


@pytest.mark.spec
def test_kvmalloc_huge_fallback_at_2mib() -> None:
    k = Kernel()
    # make the order-9 kmalloc fail; orders below 9 are exempt (4.6 min_order)
    k.fault.fail_page_alloc(probability=1.0, interval=1, times=1, min_order=9)
    p = k.kvmalloc(2 * MIB)
    k.fault.clear()
    assert p is not None and k.is_vmalloc_addr(p)
    a = area(k, p)
    assert a.page_order == 9 and a.nr_pages == 512 and VM.ALLOW_HUGE_VMAP in a.flags
    assert not any("FAULT_INJECTION" in line for line in k.dmesg)  # NOWARN on the kmalloc
    k.check()


@pytest.mark.spec
def test_kvmalloc_gfp_adjustment_clears_nofail() -> None:
    # 11.4 step 1: above one page the kmalloc loses __GFP_NOFAIL (so it is a fault-injection
    # candidate, 4.6) and gains __GFP_NOWARN; the vmalloc fallback keeps the caller's flags.
    k = Kernel()
    k.fault.fail_page_alloc(probability=1.0, interval=1, times=-1)
    n = len(k.dmesg)
    p = k.kvmalloc(16384, GFP.KERNEL | GFP.NOFAIL)
    assert p is not None and k.is_vmalloc_addr(p)
    assert area(k, p).nr_pages == 4
    assert k.dmesg[n:] == []
    q = k.kvmalloc(4096, GFP.KERNEL | GFP.NOFAIL)  # unchanged flags: NOFAIL kmalloc
    assert q is not None and not k.is_vmalloc_addr(q)
    k.fault.clear()
    k.check()


@pytest.mark.spec
def test_kvmalloc_small_failure_has_no_fallback() -> None:
    k = Kernel()
    # the kmalloc fails once (failslab, times=1), while a one-page vmalloc (order-0 page,
    # kmalloc-8 page array) would succeed if it were tried
    k.fault.failslab(probability=1.0, interval=1, times=1)
    assert k.kvmalloc(4096) is None  # 11.4 step 2
    assert "FAULT_INJECTION: forcing a failure." in k.dmesg  # flags unchanged: no NOWARN
    v = k.vmalloc(4096)  # control: the fallback would have worked
    k.fault.clear()
    assert v is not None
    k.vfree(v)
    assert k.stats().vmap_areas == 0
    k.check()


@pytest.mark.spec
def test_kvmalloc_int_max_warn_on_once() -> None:
    k = Kernel()
    n = len(k.dmesg)
    assert k.kvmalloc(INT_MAX + 1) is None  # 11.4 step 3
    assert k.dmesg[n:] == warn(None, "__kvmalloc_node_noprof")
    n = len(k.dmesg)
    assert k.kvmalloc(INT_MAX + 1) is None
    assert k.dmesg[n:] == []  # ONCE
    k2 = Kernel()
    assert k2.kvmalloc(INT_MAX + 1, GFP.KERNEL | GFP.NOWARN) is None
    assert k2.dmesg == []
    assert k.stats().vmap_areas == 0
    k.check()


@pytest.mark.spec
def test_kvzalloc_zeroes_both_paths() -> None:
    k = Kernel()
    s = k.kmalloc(100)
    assert s is not None
    k.write(s, b"\xee" * 128)
    k.kfree(s)
    z = k.kvzalloc(100)
    assert z is not None and not k.is_vmalloc_addr(z)
    assert k.read(z, 128) == bytes(128)  # 11.1: whole class zeroed
    v = k.vmalloc(64 * PAGE_SIZE)
    assert v is not None
    k.memset(v, 0xEE, 64 * PAGE_SIZE)
    k.vfree(v)
    k.vm_unmap_aliases()
    zv = k.kvzalloc(8 * MIB)
    assert zv is not None and k.is_vmalloc_addr(zv)
    assert k.read(zv, 64 * PAGE_SIZE) == bytes(64 * PAGE_SIZE)
    assert area(k, zv).caller == "kvzalloc"  # 0.6
    k.check()


@pytest.mark.spec
def test_kvfree_dispatch() -> None:
    k = Kernel()
    v = k.kvmalloc(8 * MIB)
    s = k.kvmalloc(100)
    assert v is not None and s is not None
    s0 = k.stats()
    k.kvfree(v)  # 11.4: vfree for vmalloc addresses
    assert k.find_vm_area(v) is None
    assert k.stats().nr_vmalloc_pages == 0
    k.kvfree(s)  # kfree otherwise
    assert k.stats().slab_pages < s0.slab_pages
    k.kvfree(None)
    k.kvfree(ZERO_SIZE_PTR)
    k.check()


# -- kvrealloc (11.5) ------------------------------------------------------------------------------


@pytest.mark.spec
@ALL
def test_kvrealloc_size_zero_quirk(profile: str) -> None:
    k = mk(profile)
    v = alloc(k, 8192)
    s = k.kmalloc(100)
    assert s is not None
    assert k.kvrealloc(v, 0) is None  # vrealloc(p, 0)
    assert k.find_vm_area(v) is None
    assert k.kvrealloc(s, 0) == ZERO_SIZE_PTR  # krealloc(p, 0)
    assert k.stats().vrealloc_calls == 1
    k.check()


@pytest.mark.spec
@ALL
def test_kvrealloc_vmalloc_goes_through_vrealloc(profile: str) -> None:
    k = mk(profile)
    k.trace.enable("vrealloc")
    v = alloc(k, 8192)
    assert v == VS  # 6.3; VS is aligned to 0x4000, so the align check passes everywhere
    assert k.kvrealloc(v, 100, align=0x4000) == v
    assert k.stats().vrealloc_calls == 1
    assert events(k)[0]["outcome"] == "shrink"
    k.check()


@pytest.mark.spec
def test_kvrealloc_kmalloc_paths() -> None:
    k = Kernel()
    n = k.kvrealloc(None, 100)  # krealloc(NULL) allocates
    assert n is not None and k.ksize(n) == 128
    data = pattern(128)
    k.write(n, data)
    m = k.kvrealloc(n, 6000)
    assert m is not None and not k.is_vmalloc_addr(m) and k.ksize(m) == 8192
    assert k.read(m, 128) == data
    full = pattern(8192, 3)
    k.write(m, full)
    big = k.kvrealloc(m, 8 * MIB)  # krealloc fails (order 11), kvmalloc falls back
    assert big is not None and k.is_vmalloc_addr(big)
    assert k.read(big, 8192) == full  # 11.5 step 3: min(size, ksize(p)) = 8192 bytes
    assert area(k, big).caller == "kvrealloc"
    with pytest.raises(KernelBug):
        k.ksize(m)  # kfree'd
    assert k.stats().vrealloc_calls == 0
    k.check()


@pytest.mark.spec
def test_kvrealloc_fallback_copies_min_size_ksize_without_kasan() -> None:
    k = Kernel(KernelConfig(kasan="generic"))
    p = k.kmalloc(100)
    assert p is not None
    data = pattern(128)
    k.write(p, data)
    q = k.kvrealloc(p, 3 * MIB)
    assert q is not None
    # kmalloc(3 MiB) is a large kmalloc (order 10) and succeeds: still kmalloc memory
    assert not k.is_vmalloc_addr(q) and k.ksize(q) == 4 * MIB
    assert k.read(q, 128) == data
    k.write(q + 4 * MIB - 4, b"tail")
    r = k.kvrealloc(q, 8 * MIB)
    assert r is not None and k.is_vmalloc_addr(r)
    assert k.read(r, 128) == data
    assert k.read(r + 4 * MIB - 4, 4) == b"tail"  # min(8 MiB, ksize = 4 MiB) copied
    assert k.kasan_reports == []  # copy with KASAN checks disabled (11.5 step 3)
    k.check()


@pytest.mark.spec
def test_kvrealloc_nofail_adjustment_and_failure() -> None:
    k = Kernel()
    p = k.kmalloc(100)
    assert p is not None
    k.write(p, pattern(100))
    k.fault.fail_page_alloc(probability=1.0, interval=1, times=-1)
    # krealloc gets the adjusted gfp (NOFAIL cleared): fails; kvmalloc falls back to vmalloc
    # whose order-0 bulk pages keep __GFP_NOFAIL and are no fault candidates (4.6, 8.5)
    q = k.kvrealloc(p, 16384, GFP.KERNEL | GFP.NOFAIL)
    assert q is not None and k.is_vmalloc_addr(q)
    assert k.read(q, 100) == pattern(100)
    s = k.kmalloc(100, GFP.KERNEL | GFP.NOFAIL)
    assert s is not None
    k.write(s, b"keep")
    assert k.kvrealloc(s, 4096) is None  # both attempts fail; one page: no vmalloc fallback
    assert k.read(s, 4) == b"keep" and k.ksize(s) == 128
    k.fault.clear()
    k.check()


# -- kvrealloc_old (11.6) --------------------------------------------------------------------------


@pytest.mark.spec
def test_kvrealloc_old_shrink_returns_p_unchanged() -> None:
    k = Kernel()
    p = k.kmalloc(100)
    v = k.vmalloc(8192)
    assert p is not None and v is not None
    assert k.kvrealloc_old(p, 100, 0) == p  # step 1: even newsize 0
    assert k.ksize(p) == 128
    assert k.kvrealloc_old(v, 8192, 100) == v
    a = area(k, v)
    assert a.nr_pages == 2 and a.requested_size == 8192
    assert k.stats().vrealloc_calls == 0
    k.check()


@pytest.mark.spec
def test_kvrealloc_old_grow_and_null() -> None:
    k = Kernel()
    p = k.kmalloc(100)
    assert p is not None
    k.write(p, pattern(100))
    q = k.kvrealloc_old(p, 100, 200)
    assert q is not None and q != p and k.ksize(q) == 256
    assert k.read(q, 100) == pattern(100)
    with pytest.raises(KernelBug):
        k.ksize(p)  # kvfree'd
    r = k.kvrealloc_old(None, 0, 8 * MIB)  # acts as kvmalloc
    assert r is not None and k.is_vmalloc_addr(r)
    n = len(k.dmesg)
    with pytest.raises(PageFault):  # memcpy from NULL (11.6 step 3, 5.4)
        k.kvrealloc_old(None, 10, 100)
    assert k.dmesg[n:] == [
        "BUG: kernel NULL pointer dereference, address: 0000000000000000",
        "#PF: supervisor read access in kernel mode",
        "#PF: error_code(0x0000) - not-present page",
    ]


@pytest.mark.spec
def test_kvrealloc_old_memcpy_is_instrumented() -> None:
    k = Kernel(KernelConfig(kasan="generic"))
    p = k.vmalloc(5001)
    assert p is not None
    k.write(p, pattern(5001))
    q = k.kvrealloc_old(p, 8192, 16384)
    assert q is not None and not k.is_vmalloc_addr(q)  # kvmalloc(16384): large kmalloc
    assert len(k.kasan_reports) == 1
    r = k.kasan_reports[0]
    assert (r.bug_type, r.access, r.addr, r.size) == ("vmalloc-out-of-bounds", "Read", p, 8192)
    assert r.text.splitlines()[1] == "BUG: KASAN: vmalloc-out-of-bounds in kvrealloc_noprof"
    assert k.read(q, 5001) == bytes(5001)  # copy skipped, fresh frames
    assert k.find_vm_area(p) is None  # kvfree(p)
    k.check()


# -- random resize sequences against a bytes model -------------------------------------------------


@pytest.mark.parametrize("api", ["kvrealloc", "krealloc"])
@settings(max_examples=30, deadline=None)
@given(seq=st.lists(sizes, min_size=1, max_size=12), seed=st.integers(0, 2**16))
def test_kv_and_k_realloc_preserve_contents(api: str, seq: list[int], seed: int) -> None:
    _resize_sequence(Kernel(KernelConfig(ram=64 << 20)), seq, seed, api)


def test_krealloc_with_align_0_allocates_anew() -> None:
    # mm/slub.c: krealloc: !IS_ALIGNED(p, 0) -> a new object, contents copied, old freed
    k = Kernel()
    p = nn(k.kmalloc(100))
    k.write(p, b"data")
    q = nn(k.krealloc(p, 50, align=0))
    assert q != p
    assert k.read(q, 4) == b"data"
    k.check()
