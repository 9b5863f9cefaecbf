"""vrealloc under every profile (kvalloc.mm.vrealloc): shrink, grow, zeroing, KASAN, stats."""

from __future__ import annotations

import warnings

import pytest
from hypothesis import given, settings, strategies as st

from kvalloc import (
    GFP,
    NUMA_NO_NODE,
    PAGE_SIZE,
    VM,
    VMALLOC_END,
    VMALLOC_START,
    VREALLOC_HISTORY,
    KasanWarning,
    Kernel,
    KernelConfig,
    KernelWarning,
    PageFault,
)

from ..helpers import (
    ALL_PROFILES as ALL,
    HIST,
    MIB,
    VS,
    alloc,
    area,
    dm,
    nn,
    nonzero_pattern as pattern,
    profile_kernel as mk,
    quiet,
    resize_sequence as _resize_sequence,
    resize_sizes as sizes,
    stats_without_warnings,
    vrealloc_events as events,
    warn_lines,
    warn_lines as warn,
)

pytestmark = pytest.mark.filterwarnings("ignore::kvalloc.KernelWarning")


# -- helpers ---------------------------------------------------------------------------------------


P1, P2, P3, P4, P5, P6, P7, P8, P9 = HIST
ALIASES = {  # API.md 3
    "latest": P9, "v6.12": P1, "v6.13": P2, "v6.15": P5, "v6.17": P6, "v6.19": P7,
}
KIB = 1024


def num(profile: str) -> int:
    """Profile number 1..9 (KERNEL.md 10.1)."""
    return HIST.index(profile) + 1


def fn_label(profile: str) -> str:
    """Function label for WARNs and KASAN reports (KERNEL.md 10.2)."""
    return "vrealloc_noprof" if num(profile) <= 5 else "vrealloc_node_align_noprof"


def vr(k: Kernel, p: int | None, size: int, gfp: int = GFP.KERNEL, **kw: object) -> int | None:
    q = k.vrealloc(p, size, gfp, **kw)  # type: ignore[arg-type]
    k.check()  # KERNEL.md 18: invariants hold after every public call
    return q


def vr_ok(k: Kernel, p: int | None, size: int, gfp: int = GFP.KERNEL, **kw: object) -> int:
    q = vr(k, p, size, gfp, **kw)
    assert q is not None
    return q


def meminfo_kb(k: Kernel, key: str) -> int:
    for line in k.meminfo().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise AssertionError(f"{key} missing from meminfo")


def leak_state(k: Kernel) -> tuple[int, int, int, int]:
    s = k.stats()
    return (s.free_pages, s.vmap_areas, s.nr_vmalloc_pages, s.slab_pages)


def nreports(k: Kernel) -> int:
    return len(k.kasan_reports)


# -- the profiles ----------------------------------------------------------------------------------


def fingerprint(profile: str) -> tuple[object, ...]:
    """Observations that differ between every pair of profiles (derivations per line)."""
    obs: list[object] = []
    k = mk(profile, kasan="generic")
    p = alloc(k, 256 * KIB)
    vr_ok(k, p, 16 * KIB)
    obs.append(area(k, p).nr_pages)  # 10.11: 4 under P9, 64 before
    q = alloc(k, 8192)
    n = len(k.dmesg)
    vr_ok(k, q, 100)
    # 10.4-10.9: unaligned shrink poison -> WARN_ON in kasan_poison for P2..P7 only
    obs.append("WARNING: CPU: 0 PID: 1 at kasan_poison" in k.dmesg[n:])
    obs.append(area(k, q).requested_size)  # 10.3/10.4: unchanged (8192) in P1-2, else 100
    r = alloc(k, 128)
    r2 = vr_ok(k, r, 256)
    obs.append(r2 == r)  # 10.5: P3 moves an in-place grow
    r3 = vr_ok(k, r2, 4 * PAGE_SIZE + 1, caller="fp")
    obs.append(area(k, r3).caller)  # 0.6 / 10.2: vrealloc_noprof for P1-5, "fp" for P6-9
    # 10.7: the profile 4 vs 5 zeroing example (KASAN off)
    k2 = mk(profile)
    z = alloc(k2, 8192)
    k2.write(z + 100, b"\xaa" * 100)
    z = vr_ok(k2, z, 100)
    z = vr_ok(k2, z, 200, GFP.KERNEL | GFP.ZERO)
    obs.append(k2.read(z + 100, 100))
    # 12.3 / 10.9: sw_tags in-place grow false positive
    k3 = mk(profile, kasan="sw_tags")
    t = alloc(k3, 128)
    t2 = vr_ok(k3, t, 256)
    before = nreports(k3)
    k3.read(t2 + 200, 1)
    obs.append(nreports(k3) > before)
    return tuple(obs)


@pytest.mark.spec
def test_profiles_are_all_distinct() -> None:
    prints = [fingerprint(p) for p in HIST]
    assert len(set(prints)) == len(HIST)


@pytest.mark.spec
@pytest.mark.parametrize("alias", sorted(ALIASES))
def test_alias_behaves_as_its_commit(alias: str) -> None:
    assert fingerprint(alias) == fingerprint(ALIASES[alias])  # API.md 3


@pytest.mark.spec
def test_default_kernel_is_latest() -> None:
    k = Kernel()
    p = alloc(k, 256 * KIB)
    assert vr(k, p, 16 * KIB) == p
    assert area(k, p).nr_pages == 4  # 10.11 profile 9


# -- 10.11 worked example --------------------------------------------------------------------------


@pytest.mark.spec
def test_latest_shrink_256k_to_16k_frees_60_pages() -> None:
    k = mk(P9)
    cg = k.memcg.create("a", max=None)
    with k.memcg.charge_to(cg):
        p = alloc(k, 256 * KIB, GFP.KERNEL_ACCOUNT)
    data = pattern(256 * KIB)
    k.write(p, data)
    a0 = area(k, p)
    assert (a0.nr_pages, a0.size) == (64, 266240)  # 10.11: 64 pages, VA 266240
    assert cg.usage == 262144 and cg.stat()["vmalloc"] == 262144  # 13.3
    s0 = k.stats()
    used0, free0 = meminfo_kb(k, "VmallocUsed"), meminfo_kb(k, "MemFree")
    assert used0 == 256
    k.trace.enable("vrealloc")

    assert vr(k, p, 16384, GFP.KERNEL) == p  # 10.10 step 3.6
    a = area(k, p)
    assert a.nr_pages == 4 and a.size == 266240 and a.requested_size == 16384  # 10.10 3.3/3.4
    assert a.addr == p and a.page_order == 0
    assert a.pages[:4] == a0.pages[:4]
    s1 = k.stats()
    assert s1.nr_vmalloc_pages == s0.nr_vmalloc_pages - 60  # 60 of 64 freed
    assert s1.free_pages == s0.free_pages + 60
    assert s1.nr_tlb_flushes == s0.nr_tlb_flushes + 1  # 5.3: one flush per freeing shrink
    assert s1.vrealloc_pages_freed == 60 and s1.vrealloc_shrink == s0.vrealloc_shrink + 1
    assert meminfo_kb(k, "VmallocUsed") == 16  # 10.11: 256 kB -> 16 kB
    assert meminfo_kb(k, "MemFree") == free0 + 240
    line = f"0x{p:016x}-0x{p + 266240:016x} {266240:7d} vmalloc pages=4 vmalloc N0=4"
    assert line in k.vmallocinfo().splitlines()  # 10.11 / 14.1
    assert cg.stat()["vmalloc"] == 16384 and cg.usage == 16384  # lost 245760 bytes
    assert k.read(p, 16384) == data[:16384]
    with pytest.raises(PageFault):  # freed tail unmapped (INV-PT-1)
        k.read(p + 16384, 1)
    assert k.dmesg[-3:] == [
        f"BUG: unable to handle page fault for address: {p + 16384:016x}",
        "#PF: supervisor read access in kernel mode",
        "#PF: error_code(0x0000) - not-present page",
    ]  # 5.4
    assert events(k) == [{"p": p, "old_size": 262144, "new_size": 16384, "outcome": "shrink"}]

    # 10.11: a later vrealloc(p, 32768) moves the data to a new area
    q = vr_ok(k, p, 32768)
    assert q != p and k.find_vm_area(p) is None
    assert k.read(q, 16384) == data[:16384]
    assert k.stats().vrealloc_bytes_copied == s1.vrealloc_bytes_copied + 16384  # min(size, old)
    assert events(k)[-1] == {"p": p, "old_size": 16384, "new_size": 32768, "outcome": "moved"}
    assert cg.usage == 0 and cg.stat()["vmalloc"] == 0  # 9.1: vfree uncharges
    k.check()


@pytest.mark.spec
def test_latest_shrink_with_kasan_poisons_and_unmaps_tail() -> None:
    k = mk(P9, kasan="generic")
    p = alloc(k, 256 * KIB)
    assert vr(k, p, 16384) == p  # check() inside covers INV-KASAN-3 for profile 9
    k.read(p + 16383, 1)
    assert k.kasan_reports == []
    with pytest.raises(PageFault):  # 5.4: KASAN check first (report), then translation fails
        k.read(p + 16384, 1)
    assert len(k.kasan_reports) == 1
    r = k.kasan_reports[0]
    assert (r.bug_type, r.access, r.addr, r.size) == ("vmalloc-out-of-bounds", "Read",
                                                       p + 16384, 1)
    lines = r.text.splitlines()
    assert (f"The buggy address belongs to a 4-page vmalloc region starting at {p:#x} "
            "allocated at vmalloc") in lines  # 12.6, nr_pages is now 4
    assert "The buggy address belongs to the physical page:" not in lines  # unmapped
    assert k.dmesg[-3] == f"BUG: unable to handle page fault for address: {p + 16384:016x}"
    k.check()


@pytest.mark.spec
@pytest.mark.parametrize("profile", HIST[:8])
def test_earlier_profiles_shrink_frees_nothing(profile: str) -> None:
    k = mk(profile)
    cg = k.memcg.create("a")
    with k.memcg.charge_to(cg):
        p = alloc(k, 256 * KIB, GFP.KERNEL_ACCOUNT)
    data = pattern(256 * KIB)
    k.write(p, data)
    s0 = k.stats()
    k.trace.enable("vrealloc")
    assert vr(k, p, 16384) == p  # 10.11 profiles 1-8
    a = area(k, p)
    assert a.nr_pages == 64 and a.size == 266240
    # requested_size: unchanged in P1-2 (no R bookkeeping), set in P3-8 (10.3-10.9)
    assert a.requested_size == (262144 if num(profile) <= 2 else 16384)
    s1 = k.stats()
    assert (s1.nr_vmalloc_pages, s1.free_pages, s1.nr_tlb_flushes, s1.vrealloc_pages_freed) == (
        s0.nr_vmalloc_pages, s0.free_pages, s0.nr_tlb_flushes, 0)
    assert meminfo_kb(k, "VmallocUsed") == 256
    assert cg.usage == 262144 and cg.stat()["vmalloc"] == 262144
    line = f"0x{p:016x}-0x{p + 266240:016x} {266240:7d} vmalloc pages=64 vmalloc N0=64"
    assert line in k.vmallocinfo().splitlines()
    assert k.read(p, 256 * KIB) == data  # KASAN off, nothing unmapped or zeroed

    q = vr_ok(k, p, 32768)
    ev = events(k)
    if num(profile) <= 2:  # single in-place branch, reported as shrink (10.12)
        assert q == p
        assert ev == [
            {"p": p, "old_size": 262144, "new_size": 16384, "outcome": "shrink"},
            {"p": p, "old_size": 262144, "new_size": 32768, "outcome": "shrink"},
        ]
    elif num(profile) == 3:  # 10.5: the in-place grow falls through and moves
        assert q != p and k.find_vm_area(p) is None
        assert k.read(q, 16384) == data[:16384]
        assert ev[1] == {"p": p, "old_size": 16384, "new_size": 32768, "outcome": "moved"}
        assert k.stats().vrealloc_bytes_copied == 16384  # memcpy(n, p, old)
    else:  # profiles 4-8: in-place grow
        assert q == p
        assert area(k, p).requested_size == 32768
        assert ev[1] == {"p": p, "old_size": 16384, "new_size": 32768,
                         "outcome": "grow_in_place"}
    k.check()


# -- grow within A ---------------------------------------------------------------------------------


@pytest.mark.spec
@ALL
def test_grow_within_allocated_pages(profile: str) -> None:
    k = mk(profile)
    p = alloc(k, 100)
    data = pattern(100)
    k.write(p, data)
    k.trace.enable("vrealloc")
    q = vr_ok(k, p, 200)
    st = k.stats()
    ev = events(k)[0]
    if num(profile) == 3:  # 10.5: every in-place grow returns a new pointer
        assert q != p and k.find_vm_area(p) is None
        a = area(k, q)
        assert a.caller == "vrealloc_noprof"  # 0.6 / 10.2
        assert a.requested_size == 200
        assert k.read(q, 100) == data
        assert ev["outcome"] == "moved" and st.vrealloc_moved == 1
        assert st.vrealloc_bytes_copied == 100  # memcpy(n, p, old) with old = R = 100
    else:
        assert q == p  # from f7a35a3c36d1 on (and P1-2 through their single in-place branch)
        assert k.read(p, 100) == data
        assert st.vrealloc_bytes_copied == 0 and st.vrealloc_moved == 0
        if num(profile) <= 2:
            assert area(k, p).requested_size == 100  # 10.3: requested_size unchanged
            assert ev["outcome"] == "shrink" and st.vrealloc_shrink == 1  # 10.12
            assert ev["old_size"] == 4096  # old = A
        else:
            assert area(k, p).requested_size == 200
            assert ev["outcome"] == "grow_in_place" and st.vrealloc_grow_in_place == 1
            assert ev["old_size"] == 100  # old = R


# -- zeroing ---------------------------------------------------------------------------------------


@pytest.mark.spec
@ALL
def test_profile4_vs_5_grow_zeroing_example(profile: str) -> None:
    # 10.7: vmalloc(8192) with stale data at [100, 200); shrink to 100 with GFP_KERNEL, then
    # grow to 200 with GFP_KERNEL | __GFP_ZERO.
    k = mk(profile)
    p = alloc(k, 8192)
    stale = b"\xaa" * 100
    k.write(p + 100, stale)
    assert vr(k, p, 100, GFP.KERNEL) == p
    q = vr_ok(k, p, 200, GFP.KERNEL | GFP.ZERO)
    got = k.read(q + 100, 100)
    n = num(profile)
    if n == 4:
        assert q == p and got == bytes(100)  # 10.6: grow zeroes [old, size)
    elif n == 3:
        # 10.5: moved; __vmalloc(200, GFP_KERNEL|__GFP_ZERO) pages are zero and only old=100
        # bytes are copied
        assert q != p and got == bytes(100)
    elif n <= 2:
        # 10.3: in place; memset(p + 200, 0, A - 200) does not touch [100, 200)
        assert q == p and got == stale
        assert k.read(p + 200, 8192 - 200) == bytes(8192 - 200)
    else:
        assert q == p and got == stale  # 10.7: profile 5 on, no grow-side zeroing


ZERO_MODES = {
    # mode: (gfp, config)
    "gfp_zero": (GFP.KERNEL | GFP.ZERO, {}),
    "init_on_alloc": (GFP.KERNEL, {"init_on_alloc": True}),
    "init_on_free": (GFP.KERNEL, {"init_on_free": True}),
}


@pytest.mark.spec
@ALL
@pytest.mark.parametrize("mode", sorted(ZERO_MODES))
def test_shrink_zeroing_matrix(profile: str, mode: str) -> None:
    gfp, cfg = ZERO_MODES[mode]
    k = mk(profile, **cfg)
    p = alloc(k, 5000)  # A = 8192, R = 5000
    k.write(p, b"\xaa" * 8192)
    assert vr(k, p, 100, gfp) == p
    n = num(profile)
    expect = bytearray(b"\xaa" * 8192)
    if mode == "init_on_free":
        if n >= 3:
            expect[100:5000] = bytes(4900)  # 10.5 (want_init_on_free), 10.7-10.10
    else:  # want_init_on_alloc(flags) holds
        if n <= 2:
            expect[100:8192] = bytes(8092)  # 10.3: memset(p + size, 0, A - size)
        elif n >= 5:
            expect[100:5000] = bytes(4900)  # 10.7: memset(p + size, 0, old - size)
        # P3, P4: shrink zeroes only under want_init_on_free() (10.5, 10.6)
    assert k.read(p, 4096) == bytes(expect[:4096])
    if n == 9:
        assert area(k, p).nr_pages == 1  # 10.10: tail page freed, [4096, 8192) unmapped
    else:
        assert k.read(p + 4096, 4096) == bytes(expect[4096:])


@pytest.mark.spec
@pytest.mark.parametrize("init_on_free", [False, True])
def test_latest_freed_tail_pages_zeroed_only_under_init_on_free(init_on_free: bool) -> None:
    k = mk(P9, init_on_free=init_on_free)
    p = alloc(k, 4 * PAGE_SIZE)
    k.write(p, b"\x5a" * (4 * PAGE_SIZE))
    pfns = [pg.pfn for pg in area(k, p).pages]
    assert vr(k, p, PAGE_SIZE) == p
    for pfn in pfns[1:]:  # 10.10 3.3: freed, zeroed under init_on_free (4.3)
        want = bytes(PAGE_SIZE) if init_on_free else b"\x5a" * PAGE_SIZE
        assert k.read(dm(pfn), PAGE_SIZE) == want
    assert k.read(p, PAGE_SIZE) == b"\x5a" * PAGE_SIZE


# -- profile 9 details -----------------------------------------------------------------------------


P9_KEEP_CASES = ["nofs", "noio", "atomic", "nowait", "huge", "usermap", "flush_reset_perms",
                 "within_last_page"]


@pytest.mark.spec
@pytest.mark.parametrize("case", P9_KEEP_CASES)
def test_latest_shrink_keeps_pages(case: str) -> None:
    # 10.10 3.3: pages are freed only when new_nr < N, page_order 0, no USERMAP /
    # FLUSH_RESET_PERMS, and gfp_has_io_fs(flags).
    k = mk(P9)
    gfp: int = GFP.KERNEL
    size, new = 16 * PAGE_SIZE, PAGE_SIZE
    if case == "huge":
        q = k.vmalloc_huge(4 * MIB)
        size = 4 * MIB
    elif case in ("usermap", "flush_reset_perms"):
        flag = VM.USERMAP if case == "usermap" else VM.FLUSH_RESET_PERMS
        q = k.vmalloc_node_range(size, 1, VMALLOC_START, VMALLOC_END, GFP.KERNEL, flag)
    else:
        q = k.vmalloc(size)
        gfp = {"nofs": GFP.NOFS, "noio": GFP.NOIO, "atomic": GFP.ATOMIC,
               "nowait": GFP.NOWAIT, "within_last_page": GFP.KERNEL}[case]
        if case == "within_last_page":
            new = size - PAGE_SIZE + 1  # new_nr = 16 = N
    assert q is not None
    p = q
    k.check()
    a0 = area(k, p)
    if case == "huge":
        assert a0.page_order == 9
    s0 = k.stats()
    k.trace.enable("vrealloc")
    assert vr(k, p, new, gfp) == p
    a = area(k, p)
    assert a.nr_pages == a0.nr_pages and a.requested_size == new
    s1 = k.stats()
    assert s1.free_pages == s0.free_pages and s1.nr_tlb_flushes == s0.nr_tlb_flushes
    assert s1.vrealloc_pages_freed == 0 and s1.vrealloc_shrink == 1
    assert events(k) == [{"p": p, "old_size": size, "new_size": new, "outcome": "shrink"}]
    # 10.10 step 4: in place while size <= N * 4096
    assert vr(k, p, size, gfp) == p
    assert events(k)[-1]["outcome"] == "grow_in_place"


@pytest.mark.spec
def test_latest_shrink_frees_and_grow_uses_physical_page_count() -> None:
    k = mk(P9)
    p = alloc(k, 16 * PAGE_SIZE)
    data = pattern(16 * PAGE_SIZE)
    k.write(p, data)
    s0 = k.stats()
    assert vr(k, p, 3 * PAGE_SIZE) == p  # new_nr = 3 < 16
    assert area(k, p).nr_pages == 3
    assert k.stats().vrealloc_pages_freed == 13
    assert k.stats().nr_tlb_flushes == s0.nr_tlb_flushes + 1
    assert vr(k, p, 3 * PAGE_SIZE - 5) == p  # shrink within the last page: nothing freed
    assert k.stats().vrealloc_pages_freed == 13
    assert k.stats().nr_tlb_flushes == s0.nr_tlb_flushes + 1
    assert vr(k, p, 3 * PAGE_SIZE) == p  # grow in place (<= N * 4096)
    assert k.read(p, 3 * PAGE_SIZE - 5) == data[:3 * PAGE_SIZE - 5]
    q = vr_ok(k, p, 3 * PAGE_SIZE + 1)  # beyond N * 4096 although < A: moves (10.10)
    assert q != p
    assert k.read(q, 3 * PAGE_SIZE - 5) == data[:3 * PAGE_SIZE - 5]
    # min(size, old) = old = R = 3 * 4096
    assert k.stats().vrealloc_bytes_copied == 3 * PAGE_SIZE


# -- new areas -------------------------------------------------------------------------------------


@pytest.mark.spec
@ALL
def test_caller_label_of_new_area(profile: str) -> None:
    k = mk(profile)
    p = alloc(k, PAGE_SIZE)
    q = vr_ok(k, p, 4 * PAGE_SIZE, caller="mydrv")
    r = vr_ok(k, None, PAGE_SIZE)
    kv = k.vmalloc(PAGE_SIZE)
    assert kv is not None
    s = k.kvrealloc(kv, 4 * PAGE_SIZE)
    assert s is not None and k.is_vmalloc_addr(s) and s != kv
    k.check()
    if num(profile) <= 5:  # 0.6 / 10.2: __vmalloc inside vrealloc records vrealloc_noprof
        labels = ["vrealloc_noprof"] * 3
    else:  # __vmalloc_node(..., caller): the outermost entry point's label
        labels = ["mydrv", "vrealloc", "kvrealloc"]
    assert [area(k, x).caller for x in (q, r, s)] == labels
    line = f"0x{q:016x}-0x{q + 5 * PAGE_SIZE:016x} {5 * PAGE_SIZE:7d} {labels[0]} pages=4 vmalloc N0=4"
    assert line in k.vmallocinfo().splitlines()  # 14.1


@pytest.mark.spec
@ALL
def test_vrealloc_new_area_has_no_gfp_filter(profile: str) -> None:
    """mm/vmalloc.c: vmalloc_fix_flags() is called from __vmalloc_noprof() and
    vmalloc_huge_node_noprof() only, and arrived after every profile here ("mm/vmalloc: warn
    on invalid vmalloc gfp flags", posted 2025-11-17): the old profiles' vrealloc reached
    __vmalloc_noprof() before it had the filter, the newer ones call __vmalloc_node_noprof(),
    which never had it. So no profile warns (on v6.12, 3ddc2fefe6f3 and d699440f58ce, neither)."""
    k = mk(profile)
    k.trace.enable("vrealloc")
    n = len(k.dmesg)
    q = vr_ok(k, None, 8192, GFP.KERNEL | GFP.THISNODE)
    assert k.dmesg[n:] == []
    assert area(k, q).nr_pages == 2
    assert events(k) == [{"p": 0, "old_size": 0, "new_size": 8192, "outcome": "moved"}]


@pytest.mark.spec
@ALL
def test_align_check_and_new_area_alignment(profile: str) -> None:
    k = mk(profile)
    alloc(k, PAGE_SIZE)
    p = alloc(k, PAGE_SIZE)
    assert p == VS + 0x2000  # 6.3 lowest fit: VA of the first area is 8192 bytes
    k.write(p, b"abc")
    k.trace.enable("vrealloc")
    n = len(k.dmesg)
    q = vr(k, p, 100, align=0x4000)
    if num(profile) <= 5:  # 10.2: align ignored
        assert q == p and k.dmesg[n:] == []
        assert events(k)[-1]["outcome"] == "shrink"
    else:  # 10.2 Align WARN, "0x%lx"
        assert q is None
        assert k.dmesg[n:] == warn("will not reallocate with a bigger alignment (0x4000)",
                                   "vrealloc_node_align_noprof")
        assert area(k, p).requested_size == PAGE_SIZE
        assert events(k)[-1] == {"p": p, "old_size": PAGE_SIZE, "new_size": 100,
                                 "outcome": "failed"}
        assert k.read(p, 3) == b"abc"
        assert vr(k, p, 100, align=0x2000) == p  # aligned: fine
    # a moving grow honours align from profile 6 on (__vmalloc_node(size, align, ...))
    r = vr_ok(k, p, 3 * PAGE_SIZE, align=0x2000)
    assert r != p and k.read(r, 3) == b"abc"
    if num(profile) >= 6:
        assert r % 0x2000 == 0


@pytest.mark.spec
@ALL
def test_moving_grow_alignment(profile: str) -> None:
    k = mk(profile)
    p = alloc(k, PAGE_SIZE)
    assert p == VS  # 6.3; VS is aligned to 64 KiB
    q = vr_ok(k, p, 3 * PAGE_SIZE, align=0x10000)
    if num(profile) >= 6:
        assert q % 0x10000 == 0  # __vmalloc_node(size, align=64 KiB)
        assert q == VS + 0x10000
    else:
        assert q == VS + 0x2000  # align ignored: next lowest fit after [VS, VS + 0x2000)


@pytest.mark.spec
@ALL
def test_nonexistent_warns(profile: str) -> None:
    k = mk(profile)
    p = alloc(k, PAGE_SIZE)
    k.vfree(p)
    k.check()
    km = k.kmalloc(64)
    assert km is not None
    k.trace.enable("vrealloc")
    for bad in (p, km):
        n = len(k.dmesg)
        assert vr(k, bad, 100) is None
        assert k.dmesg[n:] == warn(f"Trying to vrealloc() nonexistent vm area ({bad:016x})",
                                   fn_label(profile))  # 10.2
        assert events(k)[-1] == {"p": bad, "old_size": 0, "new_size": 100, "outcome": "failed"}
    # size 0: vfree(p) with its own warnings (10.2 step 1), outcome freed
    n = len(k.dmesg)
    assert vr(k, p, 0) is None
    assert k.dmesg[n:] == warn(f"Trying to vfree() nonexistent vm area ({p:016x})", "vfree")
    assert events(k)[-1]["outcome"] == "freed"
    assert vr(k, None, 0) is None
    assert events(k)[-1]["outcome"] == "freed"
    st = k.stats()
    assert st.vrealloc_calls == 4
    assert (st.vrealloc_shrink, st.vrealloc_grow_in_place, st.vrealloc_moved) == (0, 0, 0)


# -- stats / trace ---------------------------------------------------------------------------------


SEQ_OUTCOMES = {
    1: ["moved", "moved", "shrink", "shrink", "shrink", "shrink", "freed", "failed"],
    3: ["moved", "moved", "shrink", "shrink", "moved", "moved", "freed", "failed"],
    4: ["moved", "moved", "shrink", "shrink", "grow_in_place", "grow_in_place", "freed",
        "failed"],
    9: ["moved", "moved", "shrink", "shrink", "grow_in_place", "moved", "freed", "failed"],
}
SEQ_OLD = {
    1: [0, 4096, 16384, 16384, 16384, 16384],  # old = A (10.3)
    3: [0, 4096, 16384, 4096, 2048, 4096],  # old = R
}
SEQ_STATS = {  # calls, shrink, grow_in_place, moved, bytes_copied, pages_freed
    1: (8, 4, 0, 2, 4096, 0),
    3: (8, 2, 0, 4, 4096 + 2048 + 4096, 0),
    4: (8, 2, 2, 2, 4096, 0),
    9: (8, 2, 1, 3, 4096 + 4096, 3),
}


def seq_key(n: int) -> int:
    return {1: 1, 2: 1, 3: 3, 9: 9}.get(n, 4)


@pytest.mark.spec
@ALL
def test_stats_and_tracepoint_sequence(profile: str) -> None:
    k = mk(profile)
    k.trace.enable("vrealloc")
    n = num(profile)
    ptrs: list[int] = []
    cur = vr_ok(k, None, 4096)
    ptrs.append(0)
    k.write(cur, b"a")
    for size in (16384, 4096, 2048, 4096, 8192):
        ptrs.append(cur)
        cur = vr_ok(k, cur, size)
        assert k.read(cur, 1) == b"a"
    ptrs.append(cur)
    assert vr(k, cur, 0) is None
    assert k.find_vm_area(cur) is None
    ptrs.append(cur)
    assert vr(k, cur, 100) is None  # nonexistent
    ev = events(k)
    key = seq_key(n)
    assert [e["outcome"] for e in ev] == SEQ_OUTCOMES[key]  # 10.12
    assert [e["new_size"] for e in ev] == [4096, 16384, 4096, 2048, 4096, 8192, 0, 100]
    assert [e["p"] for e in ev] == ptrs
    assert [e["old_size"] for e in ev[:6]] == SEQ_OLD[1 if key == 1 else 3]
    assert ev[7]["old_size"] == 0
    st = k.stats()
    assert (st.vrealloc_calls, st.vrealloc_shrink, st.vrealloc_grow_in_place, st.vrealloc_moved,
            st.vrealloc_bytes_copied, st.vrealloc_pages_freed) == SEQ_STATS[key]
    assert str(k.trace.events[0]) == "vrealloc: p=0x0 old_size=0 new_size=4096 outcome=moved"


@pytest.mark.spec
def test_tracepoint_disabled_records_nothing_but_stats_count() -> None:
    k = mk(P9)
    vr_ok(k, None, 100)
    assert k.trace.events == []
    assert k.stats().vrealloc_calls == 1 and k.stats().vrealloc_moved == 1


# -- failing grows ---------------------------------------------------------------------------------


@pytest.mark.spec
@ALL
def test_failing_grow_beyond_leaks_nothing(profile: str) -> None:
    k = mk(profile)
    cg = k.memcg.create("a")
    keep = k.kmalloc(32)  # keeps a kmalloc-32 slab, so the new page array can succeed
    assert keep is not None
    with k.memcg.charge_to(cg):
        p = alloc(k, 8192, GFP.KERNEL_ACCOUNT)
        data = pattern(8192)
        k.write(p, data)
        a0 = area(k, p)
        before = leak_state(k)
        usage, vm_stat = cg.usage, cg.stat()["vmalloc"]
        k.trace.enable("vrealloc")
        k.fault.fail_page_alloc(probability=1.0, interval=1, times=-1)
        q = vr(k, p, 3 * PAGE_SIZE, GFP.KERNEL_ACCOUNT)  # > A: new allocation (10.3-10.10)
        k.fault.clear()
    assert q is None
    assert k.read(p, 8192) == data
    assert area(k, p) == a0
    # the new area is freed by deferred work (mm/vmalloc.c: defer_vm_area_cleanup())
    assert k.stats().pending_work == 1 and leak_state(k)[1] == before[1] + 1
    assert k.run_workqueues() == 1
    k.check()
    assert leak_state(k) == before
    assert (cg.usage, cg.stat()["vmalloc"]) == (usage, vm_stat)
    assert events(k) == [{"p": p, "old_size": 8192, "new_size": 3 * PAGE_SIZE,
                          "outcome": "failed"}]
    st = k.stats()
    assert (st.vrealloc_moved, st.vrealloc_bytes_copied) == (0, 0)
    # and the area still works afterwards
    r = vr_ok(k, p, 3 * PAGE_SIZE)
    assert k.read(r, 8192) == data


@pytest.mark.spec
@ALL
def test_failing_grow_beyond_page_array_failure(profile: str) -> None:
    # No kmalloc-64 slab exists: the page array (5 * 8 bytes) fails first (8.4 step 3).
    k = mk(profile)
    p = alloc(k, 8192)
    data = pattern(8192)
    k.write(p, data)
    before = leak_state(k)
    k.fault.fail_page_alloc(probability=1.0, interval=1, times=-1)
    q = vr(k, p, 5 * PAGE_SIZE)
    k.fault.clear()
    assert q is None
    assert k.read(p, 8192) == data
    k.run_workqueues()                 # cleanup_vm_area_work() frees the failed area
    assert leak_state(k) == before
    k.check()


@pytest.mark.spec
@ALL
def test_failing_grow_under_memcg_limit_uncharges_everything(profile: str) -> None:
    # 13.2: large orders fail on the charge, order-0 pages are charged up to the limit, then
    # the allocation fails and the cleanup frees and uncharges all of it.
    k = mk(profile)
    cg = k.memcg.create("a")
    with k.memcg.charge_to(cg):
        p = alloc(k, 8192, GFP.KERNEL_ACCOUNT)
        data = pattern(8192)
        k.write(p, data)
        cg.max = 5 * PAGE_SIZE
        before = leak_state(k)
        q = vr(k, p, 10 * PAGE_SIZE, GFP.KERNEL_ACCOUNT)
    assert q is None
    assert cg.events()["max"] >= 1
    assert k.read(p, 8192) == data
    k.run_workqueues()                 # cleanup_vm_area_work() frees and uncharges
    assert leak_state(k) == before
    assert cg.usage == 8192 and cg.stat()["vmalloc"] == 8192
    # 8.4 s6: the size printed is that of the pages obtained (area->nr_pages): 3 under the limit
    assert "vmalloc error: size 12288, failed to allocate pages" in " ".join(k.dmesg)


@pytest.mark.spec
@ALL
def test_in_place_grow_never_charges(profile: str) -> None:
    # 13.3: an in-place grow never charges; the profile 3 fall-through must charge a new area
    k = mk(profile)
    cg = k.memcg.create("a", max=PAGE_SIZE)
    with k.memcg.charge_to(cg):
        p = alloc(k, 100, GFP.KERNEL_ACCOUNT)
        k.write(p, b"xyz")
        q = vr(k, p, 200, GFP.KERNEL_ACCOUNT)
    if num(profile) == 3:
        assert q is None
        assert area(k, p).requested_size == 200  # 10.5: failed grow leaves R bumped
        assert cg.usage == PAGE_SIZE
    else:
        assert q == p
    assert k.read(p, 3) == b"xyz"


@pytest.mark.spec
@pytest.mark.parametrize("profile", [P3, P4])
def test_profile3_failed_grow_leaves_requested_size_bumped(profile: str) -> None:
    k = mk(profile)
    p = alloc(k, 100)
    data = pattern(100)
    k.write(p, data)
    before = leak_state(k)
    k.trace.enable("vrealloc")
    k.fault.fail_page_alloc(probability=1.0, interval=1, times=-1)
    q = vr(k, p, 200)
    k.fault.clear()
    if profile == P3:  # 10.5 step 4
        assert q is None
        assert area(k, p).requested_size == 200
        assert events(k) == [{"p": p, "old_size": 100, "new_size": 200, "outcome": "failed"}]
    else:  # 10.6: in place, no allocation needed
        assert q == p and area(k, p).requested_size == 200
        assert events(k)[0]["outcome"] == "grow_in_place"
    assert k.read(p, 100) == data
    k.run_workqueues()                 # the failed attempt's deferred cleanup
    assert leak_state(k) == before


@pytest.mark.spec
def test_latest_failed_grow_after_freeing_shrink_keeps_area() -> None:
    k = mk(P9)
    p = alloc(k, 64 * PAGE_SIZE)
    data = pattern(4 * PAGE_SIZE)
    k.write(p, data)
    assert vr(k, p, 4 * PAGE_SIZE) == p
    before = leak_state(k)
    k.fault.fail_page_alloc(probability=1.0, interval=1, times=-1)
    q = vr(k, p, 8 * PAGE_SIZE)  # 8 pages > N * 4096 -> needs a new area
    k.fault.clear()
    assert q is None
    assert area(k, p).nr_pages == 4 and area(k, p).requested_size == 4 * PAGE_SIZE
    assert k.read(p, 4 * PAGE_SIZE) == data
    k.run_workqueues()                 # the failed attempt's deferred cleanup
    assert leak_state(k) == before


# -- KASAN (generic) -------------------------------------------------------------------------------


@pytest.mark.spec
def test_p1_kasan_shrink_memset_reports_write() -> None:
    k = mk(P1, kasan="generic")
    p = alloc(k, 5001)
    data = pattern(5001)
    k.write(p, data)
    n = len(k.dmesg)
    with pytest.warns(KasanWarning):
        assert vr(k, p, 100, GFP.KERNEL | GFP.ZERO) == p
    # 10.3: memset(p + 100, 0, A - 100) over the poisoned tail
    assert len(k.kasan_reports) == 1
    r = k.kasan_reports[0]
    assert (r.bug_type, r.access, r.addr, r.size) == ("vmalloc-out-of-bounds", "Write", p + 100,
                                                       8092)
    lines = r.text.splitlines()
    assert lines[1] == "BUG: KASAN: vmalloc-out-of-bounds in vrealloc_noprof"  # 12.6
    assert lines[2] == f"Write of size 8092 at addr {p + 100:016x} by task kvalloc/1"
    assert (f"The buggy address belongs to a 2-page vmalloc region starting at {p:#x} "
            "allocated at vmalloc") in lines
    new = k.dmesg[n:]
    for line in lines:
        assert line in new  # the report lands in dmesg
    assert k.stats().kasan_reports == 1
    # memset skipped (5.4); the shadow was not touched, so this read is clean (10.3)
    assert k.read(p, 5001) == data
    assert len(k.kasan_reports) == 1


@pytest.mark.spec
def test_p1_kasan_grow_memcpy_reports_read_and_skips_copy() -> None:
    k = mk(P1, kasan="generic")
    p = alloc(k, 5001)
    data = pattern(5001)
    k.write(p, data)
    q = vr_ok(k, p, 12288)
    assert q != p and k.find_vm_area(p) is None
    assert len(k.kasan_reports) == 1
    r = k.kasan_reports[0]
    # 10.3: memcpy(n, p, A) reads whole old pages
    assert (r.bug_type, r.access, r.addr, r.size) == ("vmalloc-out-of-bounds", "Read", p, 8192)
    lines = r.text.splitlines()
    assert lines[1] == "BUG: KASAN: vmalloc-out-of-bounds in vrealloc_noprof"
    assert lines[2] == f"Read of size 8192 at addr {p:016x} by task kvalloc/1"
    # the copy was skipped: fresh frames are zero (4.1)
    assert k.read(q, 5001) == bytes(5001)
    assert k.stats().vrealloc_bytes_copied == 0
    assert area(k, q).caller == "vrealloc_noprof"


@pytest.mark.spec
def test_latest_kasan_same_workloads_report_nothing() -> None:
    k = mk(P9, kasan="generic")
    p = alloc(k, 5001)
    data = pattern(5001)
    k.write(p, data)
    pfn0 = area(k, p).pages[0].pfn
    assert vr(k, p, 100, GFP.KERNEL | GFP.ZERO) == p
    assert k.kasan_reports == []
    # 10.10 3.2: memset(p + size, 0, old - size); check through the direct map (uninstrumented)
    assert k.read(dm(pfn0), 4096) == data[:100] + bytes(3996)
    assert k.read(p, 100) == data[:100]
    p2 = alloc(k, 5001)
    k.write(p2, data)
    q = vr_ok(k, p2, 12288)
    assert q != p2
    assert k.kasan_reports == []
    assert k.read(q, 5001) == data  # copy min(size, old) = 5001
    assert k.stats().vrealloc_bytes_copied == 5001
    # granule-correct shadow after the shrink (12.4 kasan_vrealloc): [p, p + 100) only
    k.read(p + 99, 1)
    assert k.kasan_reports == []
    k.read(p + 100, 1)
    assert len(k.kasan_reports) == 1 and k.kasan_reports[0].bug_type == "vmalloc-out-of-bounds"


@pytest.mark.spec
@ALL
def test_kasan_unaligned_shrink(profile: str) -> None:
    k = mk(profile, kasan="generic")
    p = alloc(k, 8192)
    n = len(k.dmesg)
    assert vr(k, p, 100) == p
    idx = num(profile)
    if 2 <= idx <= 7:  # poison(p + 100, ...) is not granule aligned: WARN_ON in kasan_poison
        assert k.dmesg[n:] == warn(None, "kasan_poison")
    else:  # P1: no KASAN update; P8-9: kasan_vrealloc has no WARN
        assert k.dmesg[n:] == []
    assert k.kasan_reports == []
    k.read(p + 50, 1)
    assert k.kasan_reports == []
    k.read(p + 200, 1)
    if idx >= 8:  # 12.4 kasan_vrealloc: [p + 104, p + 8192) poisoned
        assert len(k.kasan_reports) == 1
        assert k.kasan_reports[0].bug_type == "vmalloc-out-of-bounds"
    else:  # tail stays accessible (10.3 never poisons; 10.4-10.9 poison skipped)
        assert k.kasan_reports == []
    if idx == 2:
        # 10.4: the unpoison(p, 100) sets the partial granule at p + 96 to 4; its next
        # granule is still 0, so the bug type is out-of-bounds (12.2)
        k.read(p + 101, 1)
        assert k.kasan_reports[-1].bug_type == "out-of-bounds"


@pytest.mark.spec
@ALL
def test_kasan_aligned_shrink_poisons_from_profile_2(profile: str) -> None:
    k = mk(profile, kasan="generic")
    p = alloc(k, 8192)
    n = len(k.dmesg)
    assert vr(k, p, 96) == p
    assert k.dmesg[n:] == []  # everything granule aligned: no WARN in any profile
    k.read(p + 95, 1)
    assert k.kasan_reports == []
    k.read(p + 96, 1)
    if num(profile) == 1:
        assert k.kasan_reports == []  # 10.3: the shrunk tail is never poisoned
    else:
        assert [r.bug_type for r in k.kasan_reports] == ["vmalloc-out-of-bounds"]


@pytest.mark.spec
def test_p2_second_shrink_memset_reports_before_reannotation() -> None:
    # 10.4: the memset still runs before the re-annotation
    k = mk(P2, kasan="generic")
    p = alloc(k, 8192)
    k.write(p, b"\x11" * 8192)
    assert vr(k, p, 96, GFP.KERNEL | GFP.ZERO) == p
    assert k.kasan_reports == []
    assert vr(k, p, 64, GFP.KERNEL | GFP.ZERO) == p
    assert len(k.kasan_reports) == 1
    r = k.kasan_reports[0]
    assert (r.bug_type, r.access, r.addr, r.size) == ("vmalloc-out-of-bounds", "Write", p + 64,
                                                       8128)
    assert r.text.splitlines()[1] == "BUG: KASAN: vmalloc-out-of-bounds in vrealloc_noprof"
    # memset skipped: [64, 96) keeps its data; [0, 64) is still accessible
    assert k.read(p + 32, 32) == b"\x11" * 32
    pfn0 = area(k, p).pages[0].pfn
    assert k.read(dm(pfn0) + 64, 32) == b"\x11" * 32


@pytest.mark.spec
@ALL
def test_kasan_unaligned_in_place_grow(profile: str) -> None:
    k = mk(profile, kasan="generic")
    p = alloc(k, 100)
    n = len(k.dmesg)
    q = vr_ok(k, p, 200)
    idx = num(profile)
    # 10.5-10.9: unpoison(p + 100, ...) unaligned -> WARN_ON in kasan_unpoison for P3-P7
    assert k.dmesg[n:] == (warn(None, "kasan_unpoison") if 3 <= idx <= 7 else [])
    assert (q == p) == (idx != 3)
    k.read(q + 150, 1)
    if idx == 1 or 4 <= idx <= 7:  # grown range left poisoned: false report
        assert [r.bug_type for r in k.kasan_reports] == ["vmalloc-out-of-bounds"]
        assert k.kasan_reports[0].text.splitlines()[1] == \
            "BUG: KASAN: vmalloc-out-of-bounds in read"  # 5.4 label
    else:
        assert k.kasan_reports == []


@pytest.mark.spec
@ALL
def test_kasan_grow_beyond_after_unaligned_grow(profile: str) -> None:
    # The copy reads `old` bytes (A in P1-2, R in P3-8, min(size, old) in P9); where the
    # in-place grow left [100, 200) poisoned (P4-7) or A covers poisoned bytes (P1-2), the
    # memcpy reports a Read with the profile's label and is skipped (10.2, 5.4).
    k = mk(profile, kasan="generic")
    p = alloc(k, 100)
    data = pattern(100)
    k.write(p, data)
    q = vr_ok(k, p, 200)
    r = vr_ok(k, q, 8192)
    idx = num(profile)
    expected: tuple[int, str] | None
    if idx <= 2:
        expected = (4096, "vrealloc_noprof")
    elif idx == 3:
        expected = None  # q is a fresh area with R = 200 fully unpoisoned
    elif idx <= 5:
        expected = (200, "vrealloc_noprof")
    elif idx <= 7:
        expected = (200, "vrealloc_node_align_noprof")
    else:
        expected = None
    if expected is None:
        assert k.kasan_reports == []
        assert k.read(r, 100) == data
    else:
        size, label = expected
        assert len(k.kasan_reports) == 1
        rep = k.kasan_reports[0]
        assert (rep.bug_type, rep.access, rep.addr, rep.size) == (
            "vmalloc-out-of-bounds", "Read", q, size)
        lines = rep.text.splitlines()
        assert lines[1] == f"BUG: KASAN: vmalloc-out-of-bounds in {label}"
        assert lines[2] == f"Read of size {size} at addr {q:016x} by task kvalloc/1"
        assert k.read(r, 100) == bytes(100)  # copy skipped; fresh frames are zero
        assert k.stats().vrealloc_bytes_copied == 0


@pytest.mark.spec
@pytest.mark.parametrize("profile", [P3, P4, P5])
def test_kasan_unaligned_grow_zeroing_memset_reports(profile: str) -> None:
    # 10.5: with an unaligned old the unpoison is skipped, so the memset (P3, P4 under
    # want_init_on_alloc) reports a Write and is skipped; P5 has no grow memset.
    k = mk(profile, kasan="generic")
    p = alloc(k, 100)
    n = len(k.dmesg)
    vr_ok(k, p, 200, GFP.KERNEL | GFP.ZERO)
    assert k.dmesg[n:n + 2] == warn(None, "kasan_unpoison")
    if profile == P5:
        assert k.kasan_reports == []
    else:
        assert len(k.kasan_reports) == 1
        r = k.kasan_reports[0]
        assert (r.bug_type, r.access, r.addr, r.size) == ("vmalloc-out-of-bounds", "Write",
                                                           p + 100, 100)
        assert r.text.splitlines()[1] == "BUG: KASAN: vmalloc-out-of-bounds in vrealloc_noprof"


# -- KASAN (sw_tags) -------------------------------------------------------------------------------


@pytest.mark.spec
@ALL
def test_sw_tags_in_place_grow_false_positive(profile: str) -> None:
    k = mk(profile, kasan="sw_tags")
    p = alloc(k, 128)
    assert p >> 56 != 0xFF  # 8.3 step 7: tagged pointer
    q = vr_ok(k, p, 256)
    idx = num(profile)
    assert (q == p) == (idx != 3)
    assert k.kasan_reports == []
    k.read(q + 200, 1)
    k.write(q + 250, b"z")
    if idx in (1, 2, 4, 5, 6):
        # P1: no retag of [128, 256); P2: new tag for [p, p+256); P4-6: new random tag for
        # the grown range, pointer discarded (10.3-10.8)
        assert [(r.bug_type, r.access) for r in k.kasan_reports] == [
            ("invalid-access", "Read"), ("invalid-access", "Write")]
        assert k.kasan_reports[0].addr == q + 200
        k.read(q, 1)
        # P2 retagged all of [p, p + 256) (10.4); elsewhere [p, p + 128) keeps p's tag
        assert (len(k.kasan_reports) == 3) == (idx == 2)
    else:  # P3 returns a fresh area; P7 KEEP_TAG; P8-9 kasan_vrealloc keeps the tag
        assert k.kasan_reports == []


# -- misc API --------------------------------------------------------------------------------------


@pytest.mark.spec
@pytest.mark.parametrize("profile", [P1, P5, P9])
def test_vrealloc_null_allocates_and_node_argument(profile: str) -> None:
    k = mk(profile)
    q = vr_ok(k, None, 5000, node=NUMA_NO_NODE)
    a = area(k, q)
    assert a.requested_size == 5000 and a.nr_pages == 2
    with pytest.raises(ValueError):  # 8.1: node other than -1 / 0
        k.vrealloc(q, 100, node=1)
    with pytest.raises(TypeError):  # API 4.1
        k.vrealloc(q, True)


@pytest.mark.spec
def test_warnings_are_kernel_warnings() -> None:
    k = mk(P9)
    p = alloc(k, PAGE_SIZE)
    k.vfree(p)
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        assert k.vrealloc(p, 100) is None
    assert any(issubclass(w.category, KernelWarning) for w in rec)


# -- random resize sequences against a bytes model, per profile ------------------------------------


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


def test_vrealloc_with_align_0_warns_as_is_aligned_is_false() -> None:
    # mm/vmalloc.c: vrealloc_node_align_noprof(): !IS_ALIGNED(p, 0) -> WARN, return NULL
    k = Kernel()
    p = nn(k.vmalloc(5000))
    k.write(p, b"keep")
    before = stats_without_warnings(k)
    n = len(k.dmesg)
    with quiet():
        assert k.vrealloc(p, 100, align=0) is None
    assert k.dmesg[n:] == warn_lines("will not reallocate with a bigger alignment (0x0)",
                                     "vrealloc_node_align_noprof")
    after = stats_without_warnings(k)
    assert after.pop("vrealloc_calls") == before.pop("vrealloc_calls") + 1
    assert after == before
    assert k.read(p, 4) == b"keep"
    k.check()
