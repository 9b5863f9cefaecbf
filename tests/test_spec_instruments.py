"""Spec-driven tests of the instruments: KASAN (generic and sw_tags), memcg, fault injection.

KERNEL.md sections 0, 1.4, 4.6, 4.7, 5.4, 6.6, 6.8, 8, 9, 12, 13, 17, 18; API.md 3, 4.2, 4.4,
4.5, 6. Every expected value is derived by hand from the spec; the comment next to it names the
section. Notation: VS = VMALLOC_START, "fresh" = a new Kernel whose memory is all free
(KERNEL.md 4.2), so the first page-array slab takes frame 0x100000 (8.8).
"""

from __future__ import annotations

import dataclasses
import random
import threading
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Literal

import pytest

from kvalloc import (
    GFP,
    PAGE_SIZE,
    PMD_SIZE,
    VMALLOC_START,
    KasanError,
    KasanWarning,
    Kernel,
    KernelConfig,
    KernelWarning,
    Page,
    PageFault,
)
from kvalloc.mm.memcontrol import Cgroup

Mode = Literal["off", "generic", "sw_tags"]
KMode = Literal["generic", "sw_tags"]

VS = VMALLOC_START
PAGE = PAGE_SIZE
PAGE_OFFSET = 0xFFFF888000000000  # KERNEL.md 1.1 direct map base
PFN0 = 0x100000  # KERNEL.md 1.2 first simulated pfn
SHADOW_OFFSET = 0xDFFFFC0000000000  # KERNEL.md 1.4
U64 = (1 << 64) - 1
EQ = "=" * 66  # KERNEL.md 12.6
TAINT = "Disabling lock debugging due to kernel taint"  # 12.6
KASAN_PANIC = "Kernel panic - not syncing: kasan.fault=panic set ..."  # 12.5
FI_FIRST = "FAULT_INJECTION: forcing a failure."  # 4.6

# %#x(%pGg) of the gfp masks used below (KERNEL.md 2.2, 2.4)
M_K = "0xcc0(GFP_KERNEL)"
M_KA = "0x400cc0(GFP_KERNEL_ACCOUNT)"
M_KZ = "0xdc0(GFP_KERNEL|__GFP_ZERO)"


# --------------------------------------------------------------------------- helpers


def mk(kasan: Mode = "off", *, fault: Literal["report", "panic"] = "report", seed: int = 0,
       ram: int = 4 << 30, lazy: int | None = None, panic_on_warn: bool = False) -> Kernel:
    return Kernel(KernelConfig(kasan=kasan, kasan_fault=fault, seed=seed, ram=ram,
                               lazy_max_pages=lazy, panic_on_warn=panic_on_warn))


def ok(k: Kernel, p: int | None) -> int:
    """A call that must succeed; check() after it (KERNEL.md 18)."""
    k.check()
    assert p is not None
    return p


def walloc(msg: str, mode: str) -> str:
    """A warn_alloc line (KERNEL.md 0.5)."""
    return f"kvalloc: {msg}, mode:{mode}, nodemask=(null),cpuset=/,mems_allowed=0"


def arr_fail(size: int, array_size: int, mode: str) -> str:
    """KERNEL.md 8.4 step 3 ("allocated" verbatim)."""
    return walloc(f"vmalloc error: size {size}, failed to allocated page array size {array_size}",
                  mode)


def pages_fail(size: int, mode: str) -> str:
    """KERNEL.md 8.4 step 6."""
    return walloc(f"vmalloc error: size {size}, failed to allocate pages", mode)


_HIGHMEM_FORMS = {
    "mode:0xcc2(GFP_KERNEL|__GFP_HIGHMEM)": "mode:" + M_K,
    "mode:0x400cc2(GFP_KERNEL_ACCOUNT|__GFP_HIGHMEM)": "mode:" + M_KA,
    "mode:0xdc2(GFP_KERNEL|__GFP_HIGHMEM|__GFP_ZERO)": "mode:" + M_KZ,
}


def norm(lines: list[str]) -> list[str]:
    """8.4 step 1 adds __GFP_HIGHMEM to gfp; whether the warn_alloc lines of 8.4 ("the
    caller's gfp") include it is ambiguous (the kernel prints it), so both are accepted by
    mapping the HIGHMEM rendering of a "vmalloc error" line onto the plain one."""
    out = []
    for x in lines:
        if "vmalloc error: size" in x:
            for a, b in _HIGHMEM_FORMS.items():
                x = x.replace(a, b)
        out.append(x)
    return out


def fi_lines(name: str, interval: int, probability: int, times: int) -> list[str]:
    """KERNEL.md 4.6: the two FAULT_INJECTION lines (times before the decrement)."""
    return [FI_FIRST,
            f"name {name}, interval {interval}, probability {probability}, space 0, times {times}"]


def oops(addr: int, write: bool) -> list[str]:
    """KERNEL.md 5.4 step 2."""
    first = (f"BUG: kernel NULL pointer dereference, address: {addr:016x}" if addr < 4096
             else f"BUG: unable to handle page fault for address: {addr:016x}")
    return [first, f"#PF: supervisor {'write' if write else 'read'} access in kernel mode",
            f"#PF: error_code({'0x0002' if write else '0x0000'}) - not-present page"]


def fault_addr(e: PageFault) -> int:
    """The address of a PageFault message `BUG: ... address: 0x...` (API 4.2, KERNEL.md 5.4)."""
    msg = str(e)
    assert msg.startswith(("BUG: unable to handle page fault for address: 0x",
                           "BUG: kernel NULL pointer dereference, address: 0x")), msg
    return int(msg.rsplit("0x", 1)[1], 16)


def untag(a: int) -> int:
    """KERNEL.md 0.4."""
    return (a & ((1 << 56) - 1)) | (0xFF << 56)


def settag(a: int, tag: int) -> int:
    """A pointer with tag `tag` in bits 56-63 (KERNEL.md 12.3)."""
    return (a & ((1 << 56) - 1)) | (tag << 56)


def lcg_tags(seed: int, n: int) -> list[int]:
    """KERNEL.md 12.3: state = (1664525 * state + 1013904223) mod 2**32, tag = state % 0xFE."""
    state = seed % (1 << 32)
    out = []
    for _ in range(n):
        state = (1664525 * state + 1013904223) % (1 << 32)
        out.append(state % 0xFE)
    return out


def dm(pfn: int) -> int:
    """Direct-map address of a frame (KERNEL.md 4.1); it reads as fully accessible (12.1)."""
    return PAGE_OFFSET + pfn * PAGE


def raw(k: Kernel, addr: int, n: int) -> bytes:
    """Read vmalloc memory through the direct map of its frame, bypassing KASAN (12.1)."""
    pg = k.vmalloc_to_page(addr)
    assert pg is not None
    off = untag(addr) % PAGE
    assert off + n <= PAGE
    return k.read(dm(pg.pfn) + off, n)


@contextmanager
def kasan_warnings(expected: int) -> Iterator[None]:
    """Exactly `expected` KasanWarnings issued inside the block (API 6, KERNEL.md 12.5)."""
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        yield
    got = [w for w in rec if issubclass(w.category, KasanWarning)]
    assert len(got) == expected, [str(w.message)[:80] for w in got]


@contextmanager
def quiet() -> Iterator[None]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", KernelWarning)
        yield


def report(*, bug: str, label: str, access: str, size: int, addr: int,
           desc: str | None, pfn: int | None, first_bad: int, shadow: Callable[[int], int],
           granule: int, tags: tuple[int, int] | None = None) -> tuple[list[str], list[str]]:
    """Expected KASAN report of KERNEL.md 12.6 as (head, tail).

    head: the first line through the vmalloc description / physical page block;
    tail: "Memory state around the buggy address:" through the closing line.
    For a mapped address the full report is head + [""] + tail.
    """
    head = [EQ, f"BUG: KASAN: {bug} in {label}",
            f"{access} of size {size} at addr {addr:016x} by task kvalloc/1"]
    if tags is not None:
        head.append(f"Pointer tag: [{tags[0]:02x}], memory tag: [{tags[1]:02x}]")
    head += ["", "CPU: 0 UID: 0 PID: 1 Comm: kvalloc", "Call Trace:", " <TASK>", f" {label}",
             " </TASK>", ""]
    if desc is not None:
        head.append("The buggy address belongs to a" + desc)
    if pfn is not None:
        head += ["The buggy address belongs to the physical page:",
                 f"page: refcount:1 mapcount:0 mapping:0000000000000000 pfn:{pfn:#x}",
                 "page dumped because: kasan: bad access detected"]
    tail = ["Memory state around the buggy address:"]
    row_bytes = 16 * granule
    start = first_bad - first_bad % row_bytes - 2 * row_bytes
    for i in range(5):
        r = start + i * row_bytes
        vals = " ".join(f"{shadow(r + j * granule):02x}" for j in range(16))
        guilty = r <= first_bad < r + row_bytes
        tail.append(f"{'>' if guilty else ' '}{r:016x}: {vals}")
        if guilty:
            tail.append(" " * (19 + 3 * ((first_bad - r) // granule)) + "^")
    tail.append(EQ)
    return head, tail


def assert_report_lines(lines: list[str], head: list[str], tail: list[str], mapped: bool) -> None:
    """`lines` is exactly one report (EQ .. EQ)."""
    if mapped:
        assert lines == head + [""] + tail
    else:
        # 12.6 leaves the blank-line layout between the description and "Memory state" open
        # when the physical-page block is absent; compare head and tail, only blanks between.
        assert lines[:len(head)] == head
        assert lines[-len(tail):] == tail
        assert all(x == "" for x in lines[len(head):len(lines) - len(tail)])
        assert not any("physical page" in x for x in lines)


def generic_shadow(base: int, requested: int) -> Callable[[int], int]:
    """Generic shadow around one live area at `base` with `requested` bytes (12.2, 12.4):
    full granules 0, a partial last granule requested % 8, everything else populated 0xF8
    (callers keep the rows inside populated shadow: guard pages or unused VA space)."""
    def f(a: int) -> int:
        if a < base:
            return 0xF8
        if a + 8 <= base + requested:
            return 0
        if a < base + requested:
            return requested % 8
        return 0xF8
    return f


def tag_shadow(base: int, requested: int, tag: int) -> Callable[[int], int]:
    """sw_tags shadow around one live area (12.3): ALIGN(requested, 16) bytes tagged, rest 0xFE."""
    def f(a: int) -> int:
        return tag if base <= a < base + (requested + 15) // 16 * 16 else 0xFE
    return f


def split_reports(lines: list[str]) -> list[list[str]]:
    """Cut dmesg lines into reports (each from an EQ line to the next EQ line)."""
    out: list[list[str]] = []
    i = 0
    while i < len(lines):
        if lines[i] == EQ:
            j = lines.index(EQ, i + 1)
            out.append(lines[i:j + 1])
            i = j + 1
        else:
            i += 1
    return out


# =========================================================================== KASAN, generic


def test_generic_example_report_exact() -> None:
    # KERNEL.md 12.6 example: fresh kernel, generic, p = vmalloc(5001), write(p + 5001, b"x").
    k = mk("generic")
    p = ok(k, k.vmalloc(5001))
    assert p == VS  # 8.8
    # 8.8 / 14.1
    assert k.vmallocinfo().splitlines() == [
        "0xffffc90000000000-0xffffc90000003000   12288 vmalloc pages=2 vmalloc N0=2"]
    warns0 = k.stats().warnings
    n0 = len(k.dmesg)
    with kasan_warnings(1):
        k.write(p + 5001, b"x")
    k.check()
    expected = [
        EQ,
        "BUG: KASAN: vmalloc-out-of-bounds in write",
        "Write of size 1 at addr ffffc90000001389 by task kvalloc/1",
        "",
        "CPU: 0 UID: 0 PID: 1 Comm: kvalloc",
        "Call Trace:",
        " <TASK>",
        " write",
        " </TASK>",
        "",
        "The buggy address belongs to a 2-page vmalloc region starting at 0xffffc90000000000"
        " allocated at vmalloc",
        "The buggy address belongs to the physical page:",
        "page: refcount:1 mapcount:0 mapping:0000000000000000 pfn:0x100003",
        "page dumped because: kasan: bad access detected",
        "",
        "Memory state around the buggy address:",
        " ffffc90000001280: 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00",
        " ffffc90000001300: 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00",
        ">ffffc90000001380: 00 01 f8 f8 f8 f8 f8 f8 f8 f8 f8 f8 f8 f8 f8 f8",
        "                      ^",
        " ffffc90000001400: f8 f8 f8 f8 f8 f8 f8 f8 f8 f8 f8 f8 f8 f8 f8 f8",
        " ffffc90000001480: f8 f8 f8 f8 f8 f8 f8 f8 f8 f8 f8 f8 f8 f8 f8 f8",
        EQ,
        TAINT,
    ]
    assert k.dmesg[n0:] == expected
    # the builder agrees with the literal example
    head, tail = report(bug="vmalloc-out-of-bounds", label="write", access="Write", size=1,
                        addr=p + 5001, desc=" 2-page vmalloc region starting at "
                        "0xffffc90000000000 allocated at vmalloc", pfn=0x100003,
                        first_bad=p + 5001, shadow=generic_shadow(p, 5001), granule=8)
    assert head + [""] + tail + [TAINT] == expected
    (r,) = k.kasan_reports
    assert (r.bug_type, r.access, r.addr, r.size) == ("vmalloc-out-of-bounds", "Write", p + 5001, 1)
    assert r.text.splitlines()[:len(expected) - 1] == expected[:-1]
    assert k.stats().kasan_reports == 1
    assert k.stats().warnings == warns0  # a KASAN report is not a WARN / warn_alloc (17)
    # 12.6: "The write then happens (the page is mapped)": frame 0x100003, offset 5001 - 4096
    assert k.vmalloc_to_page(p + 4096) is not None
    assert k.read(dm(0x100003) + 905, 1) == b"x"
    # a second report: same format, but no taint line (12.6 "first report ... only")
    n1 = len(k.dmesg)
    with kasan_warnings(1):
        data = k.read(p + 5001, 1)
    k.check()
    assert data == b"x"  # 5.4: read still happens
    head2 = ["Read of size 1 at addr ffffc90000001389 by task kvalloc/1", " read"]
    assert k.dmesg[n1:] == [expected[0], "BUG: KASAN: vmalloc-out-of-bounds in read", head2[0]] \
        + expected[3:7] + [head2[1]] + expected[8:-1]
    assert TAINT not in k.dmesg[n1:]
    assert k.dmesg.count(TAINT) == 1
    assert k.stats().kasan_reports == 2 and len(k.kasan_reports) == 2
    assert k.kasan_reports[1].access == "Read"


def test_generic_three_byte_access_stops_past_access_end() -> None:
    # KERNEL.md 12.5: a 3-byte access at p + 4999 of a 5001-byte area stops at p + 5007;
    # shadow there is 01 (5001 % 8), so 12.2 uses the next byte, 0xF8 -> vmalloc-out-of-bounds.
    k = mk("generic")
    p = ok(k, k.vmalloc(5001))
    n0 = len(k.dmesg)
    with kasan_warnings(1):
        data = k.read(p + 4999, 3)
    k.check()
    assert len(data) == 3
    head, tail = report(bug="vmalloc-out-of-bounds", label="read", access="Read", size=3,
                        addr=p + 4999, desc=" 2-page vmalloc region starting at "
                        "0xffffc90000000000 allocated at vmalloc", pfn=0x100003,
                        first_bad=p + 5007, shadow=generic_shadow(p, 5001), granule=8)
    assert head[2] == "Read of size 3 at addr ffffc90000001387 by task kvalloc/1"
    assert k.dmesg[n0:] == head + [""] + tail + [TAINT]
    # the caret: first_bad p + 5007 lies in granule 1 of row p + 0x1380 -> 19 + 3 spaces
    assert "                      ^" in k.dmesg[n0:]
    (r,) = k.kasan_reports
    assert (r.bug_type, r.access, r.addr, r.size) == ("vmalloc-out-of-bounds", "Read", p + 4999, 3)


@pytest.mark.parametrize("requested, pfn", [
    # 8.8 / 8.5 on a fresh kernel: kmalloc-8/16 slab takes 0x100000; a 1-page area gets
    # 0x100001 (bulk, lowest pfn), a 2-page area the order-1 block 0x100002-0x100003.
    (5000, 0x100003),   # granule-aligned end: the byte past it is in a 0xF8 granule
    (4095, 0x100001),   # partial granule 7; next granule (guard page) 0xF8
    (8191, 0x100003),   # partial granule 7 in the last page
])
def test_generic_read_one_past_requested_size(requested: int, pfn: int) -> None:
    k = mk("generic")
    p = ok(k, k.vmalloc(requested))
    nr = (requested + PAGE - 1) // PAGE
    with kasan_warnings(0):
        k.read(p + requested - 1, 1)  # the last valid byte: no report (12.2)
    n0 = len(k.dmesg)
    with kasan_warnings(1):
        k.read(p + requested, 1)
    k.check()
    # 12.5: the first bad address is the access address itself (its granule is not 0)
    head, tail = report(bug="vmalloc-out-of-bounds", label="read", access="Read", size=1,
                        addr=p + requested,
                        desc=f" {nr}-page vmalloc region starting at {p:#x} allocated at vmalloc",
                        pfn=pfn, first_bad=p + requested, shadow=generic_shadow(p, requested),
                        granule=8)
    assert k.dmesg[n0:] == head + [""] + tail + [TAINT]
    (r,) = k.kasan_reports
    assert (r.bug_type, r.access, r.addr, r.size) == ("vmalloc-out-of-bounds", "Read",
                                                      p + requested, 1)


@pytest.mark.parametrize("off, data, first_bad_off", [
    (13, b"ab", 13),     # byte 13 of granule 1 (shadow 5) is bad: starts right there
    (10, b"abcd", 10),   # 12.5: granule of p+10 is not 0 -> the scan stops at p+10 at once
    (4, b"abcdefghijk", 4 + 8),  # granule 0 fine, then p+12 (granule 1, shadow 5)
])
def test_generic_write_inside_partial_granule(off: int, data: bytes, first_bad_off: int) -> None:
    # vmalloc(13): granule 0 -> 00, granule 1 -> 05 (13 % 8), the rest 0xF8 (12.2, 12.4).
    # A 1-page filler first, so that the report rows (from p - 256) lie in populated shadow
    # (the filler's guard page, 0xF8): rows below VS have no shadow and 12.6 does not say
    # how they print. Frames: kmalloc-8 slab 0x100000, filler 0x100001, area 0x100002.
    k = mk("generic")
    filler = ok(k, k.vmalloc(PAGE))
    p = ok(k, k.vmalloc(13, caller="mydrv"))
    assert (filler, p) == (VS, VS + 2 * PAGE)
    with kasan_warnings(0):
        k.write(p + 12, b"y")  # 12 % 8 = 4 < 5: fine
    n0 = len(k.dmesg)
    with kasan_warnings(1):
        k.write(p + off, data)
    k.check()
    head, tail = report(bug="vmalloc-out-of-bounds", label="write", access="Write",
                        size=len(data), addr=p + off,
                        desc=f" 1-page vmalloc region starting at {p:#x} allocated at mydrv",
                        pfn=0x100002, first_bad=p + first_bad_off,
                        shadow=generic_shadow(p, 13), granule=8)
    assert k.dmesg[n0:] == head + [""] + tail + [TAINT]
    # 5.4: write still happens
    assert raw(k, p + off, len(data)) == data


@pytest.mark.parametrize("write", [False, True])
def test_generic_guard_page_reports_then_faults(write: bool) -> None:
    # 5.4: KASAN check first (guard shadow populated 0xF8, 12.4) -> report; the access still
    # happens (read/write, 5.4) -> the guard page is unmapped -> oops + PageFault.
    k = mk("generic")
    p = ok(k, k.vmalloc(4096))
    n0 = len(k.dmesg)
    with kasan_warnings(1), pytest.raises(PageFault) as ei:
        if write:
            k.write(p + 4096, b"z")
        else:
            k.read(p + 4096, 1)
    k.check()
    assert fault_addr(ei.value) == p + 4096
    assert str(ei.value).startswith("BUG: unable to handle page fault for address: 0x")
    new = k.dmesg[n0:]
    (rep,) = split_reports(new)
    label = "write" if write else "read"
    # description: PAGE_ALIGN(p + 4096) = p + 4096 lies in the busy VA (guard) -> found (12.6)
    head, tail = report(bug="vmalloc-out-of-bounds", label=label,
                        access="Write" if write else "Read", size=1, addr=p + 4096,
                        desc=" 1-page vmalloc region starting at 0xffffc90000000000 "
                        "allocated at vmalloc", pfn=None, first_bad=p + 4096,
                        shadow=generic_shadow(p, 4096), granule=8)
    assert_report_lines(rep, head, tail, mapped=False)
    assert new[len(rep):] == [TAINT] + oops(p + 4096, write)
    (r,) = k.kasan_reports
    assert (r.bug_type, r.addr, r.size) == ("vmalloc-out-of-bounds", p + 4096, 1)


def test_generic_guard_page_panic_mode_raises_before_access() -> None:
    # 12.5 kasan.fault=panic: print the report, log the panic line, raise KasanError; the
    # access does not happen, so there is no page fault.
    k = mk("generic", fault="panic")
    p = ok(k, k.vmalloc(4096))
    n0 = len(k.dmesg)
    with pytest.raises(KasanError) as ei:
        k.read(p + 4096, 1)
    k.check()
    new = k.dmesg[n0:]
    assert KASAN_PANIC in new
    assert not any(x.startswith(("BUG: unable", "#PF:")) for x in new)
    assert ei.value.report.splitlines()[:3] == [
        EQ, "BUG: KASAN: vmalloc-out-of-bounds in read",
        "Read of size 1 at addr ffffc90000001000 by task kvalloc/1"]


def test_generic_use_after_vfree_before_and_after_purge() -> None:
    # 64 KiB at VS: VA [VS, VS + 0x11000); generic shadow pages cover 32 KiB (1.4)
    k = mk("generic")
    p = ok(k, k.vmalloc(64 << 10))
    assert p == VS
    k.vfree(p)
    k.check()
    # before the purge (VA lazy, 6.8): shadow poisoned 0xF8 (9.2 step 3) -> report
    # vmalloc-out-of-bounds (12.2 last item), description "vmalloc virtual mapping" (VA not
    # busy, 12.6), no physical page (PTEs cleared), then the access faults (5.4).
    n0 = len(k.dmesg)
    with kasan_warnings(1), pytest.raises(PageFault) as ei:
        k.read(p + 0x100, 8)
    k.check()
    assert fault_addr(ei.value) == p + 0x100
    new = k.dmesg[n0:]
    (rep,) = split_reports(new)
    head, tail = report(bug="vmalloc-out-of-bounds", label="read", access="Read", size=8,
                        addr=p + 0x100, desc=" vmalloc virtual mapping", pfn=None,
                        first_bad=p + 0x100, shadow=lambda a: 0xF8, granule=8)
    assert_report_lines(rep, head, tail, mapped=False)
    assert new[len(rep):] == [TAINT] + oops(p + 0x100, False)
    assert k.kasan_reports[-1].bug_type == "vmalloc-out-of-bounds"
    # purge: shadow pages [VS, VS+32K) and [VS+32K, VS+64K) lie wholly inside the VA and are
    # released; [VS+64K, VS+96K) is not wholly inside and stays (12.4 release).
    k.vm_unmap_aliases()
    k.check()
    assert k.stats().vmap_lazy_nr == 0
    n1 = len(k.dmesg)
    reports = k.stats().kasan_reports
    with kasan_warnings(0), pytest.raises(PageFault) as ei:
        k.read(p + 0x100, 8)
    k.check()
    shadow = ((VS + 0x100) >> 3) + SHADOW_OFFSET  # 1.4
    assert shadow == 0xFFFFF52000000020
    assert fault_addr(ei.value) == shadow
    assert k.dmesg[n1:] == oops(shadow, False)  # 5.4 step 1: no KASAN report
    assert k.stats().kasan_reports == reports
    # the guard page's shadow page survived: a report, then the fault on the address itself
    n2 = len(k.dmesg)
    with kasan_warnings(1), pytest.raises(PageFault) as ei:
        k.read(p + 0x10100, 1)
    k.check()
    assert fault_addr(ei.value) == p + 0x10100
    (rep,) = split_reports(k.dmesg[n2:])
    head, tail = report(bug="vmalloc-out-of-bounds", label="read", access="Read", size=1,
                        addr=p + 0x10100, desc=" vmalloc virtual mapping", pfn=None,
                        first_bad=p + 0x10100, shadow=lambda a: 0xF8, granule=8)
    assert_report_lines(rep, head, tail, mapped=False)
    assert k.dmesg[n2 + len(rep):] == oops(p + 0x10100, False)
    # a new area over the same range repopulates the shadow (12.4 populate) and is clean
    q = ok(k, k.vmalloc(64 << 10))
    assert q == VS
    with kasan_warnings(0):
        k.write(q + 0x100, b"12345678")
        assert k.read(q + 0x100, 8) == b"12345678"
    k.check()


@pytest.mark.parametrize("label", ["memset", "memcpy-dst", "memcpy-src"])
def test_generic_memset_memcpy_skip_on_report(label: str) -> None:
    # 5.4: memset/memcpy are skipped as a whole when the check reports; memcpy checks the
    # source (Read) before the destination (Write). vmalloc(100): granule 12 (96..103) has
    # shadow 4, granule 13 onwards 0xF8 (12.2).
    # a 1-page filler first: the rows start at p - 256, inside the filler's guard (0xF8);
    # rows below VS have no shadow and 12.6 does not say how they print
    k = mk("generic")
    ok(k, k.vmalloc(PAGE))
    p = ok(k, k.vmalloc(100))
    q = ok(k, k.vmalloc(100))
    assert (p, q) == (VS + 2 * PAGE, VS + 4 * PAGE)
    with kasan_warnings(0):
        k.write(p, bytes(range(100)))
        k.write(q, bytes(range(100, 200)))
    before_p = raw(k, p, 120)
    before_q = raw(k, q, 120)
    n0 = len(k.dmesg)
    with kasan_warnings(1):
        if label == "memset":
            k.memset(p + 90, 0xAA, 20)
        elif label == "memcpy-dst":
            k.memcpy(p + 90, q, 20)
        else:
            k.memcpy(q, p + 90, 20)
    k.check()
    fn = label.split("-")[0]
    access = "Read" if label == "memcpy-src" else "Write"
    # 12.5 scan: p+90 (granule 11, shadow 0) -> p+98 (granule 12, shadow 4) stops; shadow 4
    # -> next byte 0xF8 -> vmalloc-out-of-bounds
    pg = k.vmalloc_to_page(p)
    assert pg is not None
    head, tail = report(bug="vmalloc-out-of-bounds", label=fn, access=access, size=20,
                        addr=p + 90, desc=f" 1-page vmalloc region starting at {p:#x} "
                        "allocated at vmalloc", pfn=pg.pfn, first_bad=p + 98,
                        shadow=generic_shadow(p, 100), granule=8)
    assert k.dmesg[n0:] == head + [""] + tail + [TAINT]
    assert raw(k, p, 120) == before_p and raw(k, q, 120) == before_q  # skipped
    r = k.kasan_reports[-1]
    assert (r.access, r.addr, r.size) == (access, p + 90, 20)


def test_generic_memcpy_both_bad_reports_the_source_first() -> None:
    # 5.4: the source is checked first. Whether the destination is checked after a bad
    # source is not stated (listed as ambiguous); only the first report is asserted.
    k = mk("generic")
    p = ok(k, k.vmalloc(100))
    q = ok(k, k.vmalloc(100))
    before = raw(k, q, 120)
    with quiet():
        k.memcpy(q + 90, p + 90, 20)
    k.check()
    r = k.kasan_reports[0]
    assert (r.access, r.addr, r.size) == ("Read", p + 90, 20)
    assert raw(k, q, 120) == before


def test_generic_read_write_still_happen_after_report() -> None:
    k = mk("generic")
    p = ok(k, k.vmalloc(100))
    with kasan_warnings(0):
        k.write(p + 90, b"\x11" * 10)
    with kasan_warnings(1):
        k.write(p + 100, b"\x22\x33")  # shadow 4 at granule 12: byte 100 % 8 = 4 >= 4 (12.2)
    assert raw(k, p + 100, 2) == b"\x22\x33"
    with kasan_warnings(1):
        got = k.read(p + 96, 8)
    assert got == raw(k, p + 96, 8) == b"\x11" * 4 + b"\x22\x33" + raw(k, p + 102, 2)
    k.check()
    assert [r.access for r in k.kasan_reports] == ["Write", "Read"]


def test_panic_mode_raises_with_report_and_skips_access() -> None:
    # 12.5: after printing the report, log the panic line and raise KasanError (.report holds
    # the text, API 6); KasanWarning is for "report" mode only (API 6).
    k = mk("generic", fault="panic")
    p = ok(k, k.vmalloc(5001))
    n0 = len(k.dmesg)
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        with pytest.raises(KasanError) as ei:
            k.write(p + 5001, b"x")
    assert not [w for w in rec if issubclass(w.category, KasanWarning)]
    k.check()
    new = k.dmesg[n0:]
    # the report is exactly the 12.6 example's report
    head, tail = report(bug="vmalloc-out-of-bounds", label="write", access="Write", size=1,
                        addr=p + 5001, desc=" 2-page vmalloc region starting at "
                        "0xffffc90000000000 allocated at vmalloc", pfn=0x100003,
                        first_bad=p + 5001, shadow=generic_shadow(p, 5001), granule=8)
    rep = head + [""] + tail
    assert new[:len(rep)] == rep
    # 12.5: the panic line comes after the report (its order relative to the taint line is
    # not fixed by the spec)
    assert KASAN_PANIC in new[len(rep):]
    assert set(new[len(rep):]) <= {KASAN_PANIC, TAINT}
    assert ei.value.report.splitlines()[:len(rep)] == rep
    assert raw(k, p + 5001, 1) == b"\x00"  # raised before the store (fresh frames are zero)
    assert k.stats().kasan_reports == 1
    # memset in panic mode: also raises, nothing written
    with pytest.raises(KasanError):
        k.memset(p + 4990, 0x55, 20)
    assert raw(k, p + 4990, 11) == bytes(11)
    k.check()


def test_panic_on_warn_does_not_panic_on_kasan_report() -> None:
    # 12.5: as in multi-shot mode, panic_on_warn does not turn KASAN reports into panics
    k = mk("generic", panic_on_warn=True)
    p = ok(k, k.vmalloc(5001))
    with kasan_warnings(1):
        k.write(p + 5001, b"x")
    k.check()
    assert k.stats().kasan_reports == 1


@pytest.mark.parametrize("addr, bug", [
    (0x10, "null-ptr-deref"),                # below 4096 (12.2)
    (0x10000000, "user-memory-access"),      # below TASK_SIZE_MAX
    (0x8000000000000000, "wild-memory-access"),  # below the lowest shadowed address (1.4)
])
def test_generic_report_without_shadow(addr: int, bug: str) -> None:
    # 12.6: addresses without shadow print the first three lines, the blank line and the stack
    # stand-in only, then the closing line; the access then faults (5.4).
    k = mk("generic")
    n0 = len(k.dmesg)
    with kasan_warnings(1), pytest.raises(PageFault) as ei:
        k.read(addr, 4)
    k.check()
    assert fault_addr(ei.value) == addr
    assert k.dmesg[n0:] == [
        EQ, f"BUG: KASAN: {bug} in read", f"Read of size 4 at addr {addr:016x} by task kvalloc/1",
        "", "CPU: 0 UID: 0 PID: 1 Comm: kvalloc", "Call Trace:", " <TASK>", " read", " </TASK>",
        EQ, TAINT] + oops(addr, False)
    (r,) = k.kasan_reports
    assert (r.bug_type, r.access, r.addr, r.size) == (bug, "Read", addr, 4)


def test_generic_direct_map_is_never_reported() -> None:
    # 12.1: direct-map (kmalloc) addresses read as fully accessible
    k = mk("generic")
    x = ok(k, k.kmalloc(10))
    with kasan_warnings(0):
        k.write(x + 8, b"abcdefgh")  # past the 10 requested bytes: no slab KASAN (19)
        assert k.read(x + 8, 8) == b"abcdefgh"
    assert k.kasan_reports == []


def test_generic_access_wrapping_past_top_is_out_of_bounds() -> None:
    # 12.2: an access whose end wraps past 2**64 is out-of-bounds (the address is unmapped,
    # so the access then faults, 5.4). Rows of such a report are not asserted.
    k = mk("generic")
    with kasan_warnings(1), pytest.raises(PageFault):
        k.read(U64 - 3, 8)
    k.check()
    (r,) = k.kasan_reports
    assert (r.bug_type, r.access, r.size) == ("out-of-bounds", "Read", 8)


def test_generic_vmap_and_vm_map_ram_unpoisoned_size() -> None:
    # 7 step 5 / 9.4: vmap unpoisons len(pages) * 4096; 9.5: vm_map_ram count * 4096, no guard
    k = mk("generic")
    pages = [k.alloc_pages(0) for _ in range(2)]
    assert all(pg is not None for pg in pages)
    pl = [pg for pg in pages if pg is not None]
    v = ok(k, k.vmap(pl))
    assert v == VS
    r = ok(k, k.vm_map_ram(pl, 2))
    assert r == VS + 3 * PAGE  # after vmap's VA [VS, VS + 12 KiB) (9.4 guard, 9.5 align)
    with kasan_warnings(0):
        k.write(v + 8191, b"a")
        k.write(r + 8191, b"b")
    with kasan_warnings(1), pytest.raises(PageFault):
        k.read(v + 8192, 1)  # guard: 0xF8, unmapped
    assert k.kasan_reports[-1].bug_type == "vmalloc-out-of-bounds"
    k.vunmap(v)
    k.vm_unmap_ram(r, 2)
    for pg in pl:
        k.free_pages(pg, 0)
    k.check()


# =========================================================================== KASAN, sw_tags


def test_sw_tags_lcg_tag_sequence_from_seed() -> None:
    # 12.3: tags from the LCG, initial state seed mod 2**32; one tag per kasan_unpoison_vmalloc
    # without KEEP_TAG: end of each successful vmalloc (8.3 step 7), each vmap (7 step 5)
    # (vm_map_ram, 9.5: test_sw_tags_vm_map_ram_is_tagged_and_checks). The nested page-array vmalloc of a 513-page area (8.4 step 3)
    # completes, and takes its tag, before the outer one.
    seed = 2**32 + 12345
    k = mk("sw_tags", seed=seed)
    tags = lcg_tags(seed, 6)
    assert tags == lcg_tags(12345, 6)
    p1 = ok(k, k.vmalloc(4096))
    assert p1 == settag(VS, tags[0])
    assert k.vmalloc(1 << 62, GFP.KERNEL | GFP.NOWARN) is None  # 8.3 step 2: no tag drawn
    k.check()
    p2 = ok(k, k.vmalloc(513 * PAGE))
    assert p2 >> 56 == tags[2]
    assert untag(p2) == VS + 2 * PAGE  # after p1's VA [VS, VS + 8 KiB)
    # the nested page array: VA right after the outer VA (6.3 lowest fit), tag tags[1]
    nested = untag(p2) + 514 * PAGE
    area = k.find_vm_area(nested)
    assert area is not None and area.addr == settag(nested, tags[1])
    x = ok(k, k.kmalloc(64))
    assert x >> 56 == 0xFF  # kmalloc pointers are untagged (12.1)
    pg = k.alloc_pages(0)
    assert pg is not None
    v = ok(k, k.vmap([pg]))
    assert v >> 56 == tags[3]
    p3 = ok(k, k.vzalloc(10))
    assert p3 >> 56 == tags[4]
    k.vunmap(v)
    k.free_pages(pg, 0)
    for p in (p1, p2, p3):
        k.vfree(p)
    k.kfree(x)
    k.check()
    assert k.stats().warnings == 0


def test_sw_tags_seed_zero_first_tag() -> None:
    # 12.3 by hand: state = 1013904223 -> tag = 1013904223 % 254 = 231 (0xe7)
    # (1013904223 = 254 * 3991748 + 231)
    assert 1013904223 % 254 == 231
    k = mk("sw_tags")
    p = ok(k, k.vmalloc(100))
    assert p == settag(VS, 0xE7) == 0xE7FFC90000000000


def test_sw_tags_vm_map_ram_is_tagged_and_checks() -> None:
    # 9.5: vm_map_ram unpoisons count * 4096 with kasan_unpoison_vmalloc(PROT_NORMAL) and
    # returns the tagged pointer; 12.3: the granules carry that pointer's tag; INV-KASAN-4
    # (18): the mapped size is accessible (through the returned pointer), so check() passes.
    seed = 77
    tags = lcg_tags(seed, 2)
    k = mk("sw_tags", seed=seed)
    pages = [k.alloc_pages(0) for _ in range(2)]
    pl = [pg for pg in pages if pg is not None]
    assert len(pl) == 2
    r = k.vm_map_ram(pl, 2)
    assert r == settag(VS, tags[0])
    with kasan_warnings(0):
        k.write(r + 2 * PAGE - 1, b"m")
        assert k.read(r, 1) == k.read(dm(pl[0].pfn), 1)
    k.check()
    k.vm_unmap_ram(untag(r), 2)
    k.check()
    v = k.vmap(pl)
    # the vm_map_ram VA [VS, VS + 8 KiB) (no guard, 9.5) is lazy (6.8): next fit, next tag
    assert v == settag(VS + 2 * PAGE, tags[1])
    k.check()
    k.vunmap(v)
    for pg in pl:
        k.free_pages(pg, 0)
    k.check()


def _other_tag(t: int) -> int:
    return (t + 1) % 0xFE


def test_sw_tags_tag_mismatch_report_and_lookups() -> None:
    seed = 4242
    (t,) = lcg_tags(seed, 1)
    k = mk("sw_tags", seed=seed)
    p = ok(k, k.vmalloc(5000))
    assert p == settag(VS, t)
    # lookups and is_vmalloc_addr ignore the tag (6.7, 9.7)
    assert k.is_vmalloc_addr(p) and k.is_vmalloc_addr(untag(p))
    assert k.is_vmalloc_addr(settag(VS, _other_tag(t)))
    for probe in (p, untag(p), settag(p, _other_tag(t)), untag(p) + 8192 + 5):
        area = k.find_vm_area(probe)
        assert area is not None and area.addr == p and area.requested_size == 5000
    pg = k.vmalloc_to_page(settag(p, _other_tag(t)) + 4096)
    assert pg is not None and pg.pfn == 0x100003
    # 14.1: vm.addr keeps its tag
    assert k.vmallocinfo().splitlines() == [
        f"0x{p:016x}-0x{p + 12288:016x}   12288 vmalloc pages=2 vmalloc N0=2"]
    with kasan_warnings(0):
        k.write(p + 0x1000, b"DATA")
    # a pointer with another tag: invalid-access (12.3); the first granule already mismatches
    q = settag(p, _other_tag(t))
    n0 = len(k.dmesg)
    with kasan_warnings(1):
        got = k.read(q + 0x1000, 4)
    k.check()
    assert got == b"DATA"  # the read still happens (5.4)
    head, tail = report(bug="invalid-access", label="read", access="Read", size=4,
                        addr=q + 0x1000,
                        desc=f" 2-page vmalloc region starting at {p:#x} allocated at vmalloc",
                        pfn=0x100003, first_bad=VS + 0x1000,
                        shadow=tag_shadow(VS, 5000, t), granule=16,
                        tags=(_other_tag(t), t))
    assert k.dmesg[n0:] == head + [""] + tail + [TAINT]
    r = k.kasan_reports[0]
    assert (r.bug_type, r.access, r.size) == ("invalid-access", "Read", 4)
    assert r.addr == q + 0x1000  # the access address, tag included (12.6)
    # the native tag 0xFF matches everything (12.3): no report through untag(p)
    with kasan_warnings(0):
        assert k.read(untag(p) + 0x1000, 4) == b"DATA"
        k.read(untag(p) + 5008, 1)
    # vfree through the tagged pointer (lookup untags, 6.7): no warning
    w0 = k.stats().warnings
    k.vfree(p)
    k.check()
    assert k.stats().warnings == w0 and k.find_vm_area(p) is None


def test_sw_tags_out_of_bounds_with_own_tag() -> None:
    # 12.3: no partial granules: ALIGN(5000, 16) = 5008 bytes carry the tag, the rest 0xFE
    seed = 99
    (t,) = lcg_tags(seed, 1)
    k = mk("sw_tags", seed=seed)
    p = ok(k, k.vmalloc(5000))
    with kasan_warnings(0):
        k.read(p + 5007, 1)  # inside the last (tagged) granule: fine
    n0 = len(k.dmesg)
    with kasan_warnings(1):
        k.write(p + 5008, b"!")
    k.check()
    head, tail = report(bug="invalid-access", label="write", access="Write", size=1,
                        addr=p + 5008,
                        desc=f" 2-page vmalloc region starting at {p:#x} allocated at vmalloc",
                        pfn=0x100003, first_bad=VS + 5008, shadow=tag_shadow(VS, 5000, t),
                        granule=16, tags=(t, 0xFE))
    assert k.dmesg[n0:] == head + [""] + tail + [TAINT]
    # caret: row VS + 0x1100 .. first row VS + 0x1100; guilty row VS + 0x1300, granule 9
    assert " " * (19 + 27) + "^" in k.dmesg[n0:]
    assert raw(k, p + 5008, 1) == b"!"


def test_sw_tags_use_after_vfree_before_and_after_purge() -> None:
    # sw_tags shadow pages cover 64 KiB (1.4): a 128 KiB area's VA [VS, VS + 0x21000) wholly
    # contains the shadow pages of [VS, VS + 64K) and [VS + 64K, VS + 128K) (12.4 release).
    seed = 5
    (t,) = lcg_tags(seed, 1)
    k = mk("sw_tags", seed=seed)
    p = ok(k, k.vmalloc(128 << 10))
    assert p == settag(VS, t)
    k.vfree(p)
    k.check()
    n0 = len(k.dmesg)
    with kasan_warnings(1), pytest.raises(PageFault):
        k.read(p + 0x1000, 8)
    k.check()
    (rep,) = split_reports(k.dmesg[n0:])
    head, tail = report(bug="invalid-access", label="read", access="Read", size=8,
                        addr=p + 0x1000, desc=" vmalloc virtual mapping", pfn=None,
                        first_bad=VS + 0x1000, shadow=lambda a: 0xFE, granule=16,
                        tags=(t, 0xFE))
    assert_report_lines(rep, head, tail, mapped=False)
    k.vm_unmap_aliases()
    k.check()
    n1 = len(k.dmesg)
    with kasan_warnings(0), pytest.raises(PageFault) as ei:
        k.read(p + 0x1000, 8)
    shadow = ((VS + 0x1000) >> 4) + SHADOW_OFFSET  # 1.4
    assert fault_addr(ei.value) == shadow
    assert k.dmesg[n1:] == oops(shadow, False)
    assert len(k.kasan_reports) == 1
    k.check()


@pytest.mark.parametrize("label", ["memset", "memcpy-dst", "memcpy-src"])
def test_sw_tags_memset_memcpy_skip_on_report(label: str) -> None:
    # vmalloc(100): 112 bytes tagged (12.3); [p+100, p+120) crosses into the 0xFE granule at 112
    seed = 31
    k = mk("sw_tags", seed=seed)
    p = ok(k, k.vmalloc(100))
    q = ok(k, k.vmalloc(100))
    with kasan_warnings(0):
        k.write(p, bytes(range(100)))
        k.write(q, bytes(range(100, 200)))
    bp, bq = raw(k, p, 130), raw(k, q, 130)
    with kasan_warnings(1):
        if label == "memset":
            k.memset(p + 100, 0xAA, 20)
        elif label == "memcpy-dst":
            k.memcpy(p + 100, q, 20)
        else:
            k.memcpy(q, p + 100, 20)
    k.check()
    assert raw(k, p, 130) == bp and raw(k, q, 130) == bq
    r = k.kasan_reports[0]
    assert (r.bug_type, r.access, r.size) == (
        "invalid-access", "Read" if label == "memcpy-src" else "Write", 20)
    assert f"BUG: KASAN: invalid-access in {label.split('-')[0]}" in r.text.splitlines()


# =========================================================================== KASAN, workload


@pytest.mark.parametrize("kasan", ["generic", "sw_tags"])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_valid_workload_has_no_reports(kasan: KMode, seed: int) -> None:
    # Only accesses inside [p, p + requested) through the returned pointer: 12.2 / 12.3 never
    # flag them, whatever purges release and repopulate (lazy threshold lowered, 6.8).
    k = mk(kasan, seed=seed, ram=256 << 20, lazy=256)
    rng = random.Random(seed * 7919)
    live: list[tuple[str, int, int, list[Page]]] = []  # kind, ptr, size, pages

    def alloc() -> None:
        kinds = ["vmalloc", "vmalloc", "vzalloc", "kvmalloc", "kmalloc", "vmap", "vm_map_ram",
                 "huge"]
        if kasan == "sw_tags":
            # check() wrongly rejects tagged vm_map_ram areas (see
            # test_sw_tags_vm_map_ram_is_tagged_and_checks); keep this test about KASAN reports
            kinds.remove("vm_map_ram")
        kind = rng.choice(kinds)
        extra: list[Page] = []
        if kind == "huge":
            if rng.random() < 0.7:
                return
            size = rng.choice([PMD_SIZE, PMD_SIZE + 1, 3 * PAGE + 5])
            p = k.vmalloc_huge(size)
        elif kind in ("vmap", "vm_map_ram"):
            n = rng.randint(1, 6)
            pages = [k.alloc_pages(0) for _ in range(n)]
            pl = [pg for pg in pages if pg is not None]
            assert len(pl) == n
            extra = list(pl)
            p = k.vmap(pl) if kind == "vmap" else k.vm_map_ram(pl, n)
            size = n * PAGE
        elif kind == "kmalloc":
            size = rng.randint(1, 8192)
            p = k.kmalloc(size)
        else:
            size = rng.choice([rng.randint(1, 64), rng.randint(1, 5 * PAGE),
                               rng.randint(1, 40 * PAGE)])
            p = (k.vmalloc(size) if kind == "vmalloc" else k.vzalloc(size) if kind == "vzalloc"
                 else k.kvmalloc(size))
        p = ok(k, p)
        if kind == "vzalloc":
            off = rng.randrange(size)
            n = min(size - off, 64)
            assert k.read(p + off, n) == bytes(n)  # 8.6
        live.append((kind, p, size, extra))

    def free(i: int) -> None:
        kind, p, size, extra = live.pop(i)
        if kind in ("vmalloc", "vzalloc", "huge"):
            k.vfree(p)
        elif kind == "kvmalloc":
            k.kvfree(p)
        elif kind == "kmalloc":
            k.kfree(p)
        else:
            if kind == "vmap":
                k.vunmap(p)
            else:
                k.vm_unmap_ram(untag(p), size // PAGE)
            for pg in extra:
                k.free_pages(pg, 0)

    with kasan_warnings(0):
        for _ in range(220):
            op = rng.random()
            if op < 0.25 or not live:
                alloc()
            elif op < 0.4:
                free(rng.randrange(len(live)))
            else:
                kind, p, size, _e = rng.choice(live)
                off = rng.randrange(size)
                n = rng.randint(1, min(size - off, 3 * PAGE))
                which = rng.random()
                if which < 0.35:
                    data = rng.randbytes(n)
                    k.write(p + off, data)
                    assert k.read(p + off, n) == data
                elif which < 0.6:
                    v = rng.randrange(256)
                    k.memset(p + off, v, n)
                    assert k.read(p + off, n) == bytes([v]) * n
                elif which < 0.8:
                    k.read(p + off, n)
                else:
                    kind2, p2, size2, _e2 = rng.choice(live)
                    if p2 == p:
                        continue
                    m = rng.randint(1, min(size, size2, 2 * PAGE))
                    o1, o2 = rng.randrange(size - m + 1), rng.randrange(size2 - m + 1)
                    src = k.read(p + o1, m)
                    k.memcpy(p2 + o2, p + o1, m)
                    assert k.read(p2 + o2, m) == src
            k.check()
        while live:
            free(len(live) - 1)
            k.check()
        k.vm_unmap_aliases()
        k.check()
    assert k.kasan_reports == [] and k.stats().kasan_reports == 0
    assert not any(x.startswith("BUG:") for x in k.dmesg)
    # the alignment WARNs of kasan_poison / kasan_unpoison (12.2) are unreachable here: every
    # hook gets page-aligned addresses and granule-rounded sizes (12.4)
    assert not any(x.endswith((" at kasan_poison", " at kasan_unpoison")) for x in k.dmesg)
    assert k.stats().warnings == 0


# =========================================================================== fault injection


def test_fail_page_alloc_interval_and_lines() -> None:
    # 4.6: every candidate increments the counter; failed when counter % interval == 0;
    # GFP_KERNEL failures log the two lines, then the 4.2 warn_alloc
    k = mk()
    k.fault.fail_page_alloc(probability=1.0, interval=3, times=-1)
    results = []
    for i in range(1, 7):
        n0 = len(k.dmesg)
        pg = k.alloc_pages(0) if i % 3 else _quiet_alloc(k)
        results.append(pg is not None)
        if i % 3 == 0:
            assert k.dmesg[n0:] == fi_lines("fail_page_alloc", 3, 100, -1) + [
                walloc("page allocation failure: order:0", M_K)]
        else:
            assert k.dmesg[n0:] == []
        k.check()
    assert results == [True, True, False, True, True, False]


def _quiet_alloc(k: Kernel) -> object:
    with quiet():
        return k.alloc_pages(0)


def test_fail_page_alloc_times_counts_down() -> None:
    k = mk()
    k.fault.fail_page_alloc(probability=1.0, interval=1, times=2)
    n0 = len(k.dmesg)
    with quiet():
        got = [k.alloc_pages(0) is not None for _ in range(3)]
    assert got == [False, False, True]
    fail = walloc("page allocation failure: order:0", M_K)
    assert k.dmesg[n0:] == (fi_lines("fail_page_alloc", 1, 100, 2) + [fail]
                            + fi_lines("fail_page_alloc", 1, 100, 1) + [fail])
    k.check()


def test_fault_nofail_is_not_a_candidate() -> None:
    # 4.6: __GFP_NOFAIL allocations are not candidates and do not bump the counter
    k = mk()
    k.fault.fail_page_alloc(probability=1.0, interval=2, times=-1)
    assert k.alloc_pages(0, GFP.KERNEL | GFP.NOFAIL) is not None
    assert k.alloc_pages(0, GFP.KERNEL | GFP.NOWARN) is not None   # counter 1
    assert k.alloc_pages(0, GFP.KERNEL | GFP.NOWARN) is None       # counter 2
    assert k.alloc_pages(0, GFP.KERNEL | GFP.NOFAIL) is not None
    assert k.alloc_pages(0, GFP.KERNEL | GFP.NOWARN) is not None   # counter 3
    k.check()
    k.fault.failslab(probability=1.0, interval=1, times=-1)
    assert k.kmalloc(8, GFP.KERNEL | GFP.NOFAIL) is not None
    k.check()


def test_fault_min_order() -> None:
    # 4.6: orders below min_order are not candidates
    k = mk()
    k.fault.fail_page_alloc(probability=1.0, interval=1, times=-1, min_order=1)
    assert k.alloc_pages(0, GFP.KERNEL | GFP.NOWARN) is not None
    assert k.alloc_pages(1, GFP.KERNEL | GFP.NOWARN) is None
    # vmalloc of 2 pages: order-1 attempt fails (silently: gfp | NOWARN, 8.4 step 5), the
    # order-0 bulk path fills both pages (8.5); the kmalloc-16 slab is order 0 (11.2)
    n0 = len(k.dmesg)
    p = ok(k, k.vmalloc(2 * PAGE))
    assert k.dmesg[n0:] == []
    area = k.find_vm_area(p)
    assert area is not None and area.nr_pages == 2
    # kmalloc-1024 slabs are order 1 (11.2): the refill fails
    assert k.kmalloc(1024, GFP.KERNEL | GFP.NOWARN) is None
    assert k.kmalloc(512) is not None
    k.check()


@pytest.mark.parametrize("seed", [0, 7, 123])
def test_fault_probability_follows_seeded_generator(seed: int) -> None:
    # 4.6 + 17: a draw from random.Random(seed) below probability fails the candidate; with
    # interval 1 and times -1 every candidate draws once. NOWARN: no lines at all.
    k = mk(seed=seed)
    rng = random.Random(seed)
    k.fault.fail_page_alloc(probability=0.3, interval=1, times=-1)
    pages = []
    for _ in range(60):
        pg = k.alloc_pages(0, GFP.KERNEL | GFP.NOWARN)
        assert (pg is None) == (rng.random() < 0.3)
        if pg is not None:
            pages.append(pg)
    assert k.dmesg == []
    for pg in pages:
        k.free_pages(pg, 0)
    k.check()
    assert k.stats().free_pages == k.stats().total_pages


def test_fault_probability_printed_as_percent() -> None:
    k = mk(seed=1)
    k.fault.fail_page_alloc(probability=0.5, interval=1, times=-1)
    with quiet():
        while k.alloc_pages(0) is not None:
            pass
    assert k.dmesg[-3:-1] == fi_lines("fail_page_alloc", 1, 50, -1)


def test_failslab_basic() -> None:
    # 4.6: kmalloc up to 8192 bytes is a failslab candidate; a large kmalloc is not
    k = mk()
    k.fault.failslab(probability=1.0, interval=1, times=-1)
    n0 = len(k.dmesg)
    with quiet():
        assert k.kmalloc(8) is None
    assert k.dmesg[n0:n0 + 2] == fi_lines("failslab", 1, 100, -1)
    n1 = len(k.dmesg)
    assert k.kmalloc(8, GFP.KERNEL | GFP.NOWARN) is None
    assert k.dmesg[n1:] == []
    big = ok(k, k.kmalloc(16384))
    pg = k.alloc_pages(0)
    assert pg is not None
    k.fault.clear()
    x = ok(k, k.kmalloc(8))
    k.kfree(x)
    k.kfree(big)
    k.free_pages(pg, 0)
    k.check()
    assert k.stats().free_pages == k.stats().total_pages


def test_vmalloc_nofail_survives_all_injection() -> None:
    # 4.6: NOFAIL allocations are not candidates. The page array (nested_gfp keeps NOFAIL:
    # GFP_RECLAIM_MASK contains it, 2.2/8.4) and the order-0 fallback keep NOFAIL; the
    # high-order attempts drop it (8.5) and fail silently (gfp | NOWARN).
    k = mk()
    k.fault.fail_page_alloc(probability=1.0, interval=1, times=-1)
    k.fault.failslab(probability=1.0, interval=1, times=-1)
    n0 = len(k.dmesg)
    p = ok(k, k.vmalloc(4 * PAGE, GFP.KERNEL | GFP.NOFAIL))
    assert k.dmesg[n0:] == []
    area = k.find_vm_area(p)
    assert area is not None and area.nr_pages == 4
    k.vfree(p)
    k.check()


# --------------------------------------------------------------------------- the sweep


@dataclasses.dataclass(frozen=True)
class Outcome:
    """Expected result of one injected run (hand-derived from 4.6, 8.3-8.5, 11.2, 13.2)."""

    fail: bool
    tail: tuple[str, ...] = ()        # the last dmesg lines of a failure
    exact: bool = False               # the new lines are exactly `tail` (no FAULT_INJECTION)
    page_order: int = 0               # of a successful area
    addr: int | None = None           # of a successful area (fresh kernel)


def _wl_vmalloc(n: int) -> Callable[[Kernel, Cgroup | None], int | None]:
    return lambda k, cg: k.vmalloc(n * PAGE)


def _wl_huge(k: Kernel, cg: Cgroup | None) -> int | None:
    return k.vmalloc_huge(PMD_SIZE)


def _wl_memcg(k: Kernel, cg: Cgroup | None) -> int | None:
    assert cg is not None
    with k.memcg.charge_to(cg):
        return k.vmalloc(3 * PAGE, GFP.KERNEL_ACCOUNT)


F = Outcome(fail=False)
A1 = (arr_fail(4096, 8, M_K),)
A3 = (arr_fail(12288, 24, M_K),)
A512 = (arr_fail(2097152, 4096, M_K),)
# 513 pages: the array (4104 bytes) is a nested vmalloc of 2 pages whose own array is
# kmalloc-16 (8.4 step 3); both levels print (nested gfp = 0xdc0)
A513 = (arr_fail(8192, 16, M_KZ), arr_fail(2101248, 4104, M_K))
AHUGE = (arr_fail(2097152, 4096, M_K),)
A3CG = (arr_fail(12288, 24, M_KA),)
HUGE_SMALL = Outcome(fail=False, page_order=0, addr=VS + PMD_SIZE + PAGE)  # 8.4 step 8 / 8.3 step 9
HUGE_OK = Outcome(fail=False, page_order=9, addr=VS)

# workload -> (run, nr_pages, {(kind, every): [outcome for n = 1, 2, ...]})
# kind "page" = fail_page_alloc, "slab" = failslab; every=False: times=1 (only the n-th
# candidate fails), every=True: times=-1 (every n-th candidate fails). Candidates per
# workload (fresh kernel, 4.6/8.5/11.2):
#   vmalloc 1 page : page = slab refill (o0), bulk frame [, fallback frame]; slab = kmalloc-8
#   vmalloc 3 pages: page = slab refill, order-1 block, bulk frame;          slab = kmalloc-32
#   vmalloc 512    : page = slab refill (o3), order-9 block;                 slab = kmalloc-4k
#   vmalloc 513    : page = nested slab refill, nested order-1, order-9, bulk frame;
#                    slab = the nested kmalloc-16
#   vmalloc_huge   : page = slab refill (o3), order-9 block (then the small-page retry);
#                    slab = kmalloc-4k (again on retry)
#   memcg 3 pages  : as 3 pages, charged to a cgroup with max = 3 pages
SWEEP: dict[str, tuple[Callable[[Kernel, Cgroup | None], int | None], int,
                       dict[tuple[str, bool], list[Outcome]]]] = {
    "vmalloc-1": (_wl_vmalloc(1), 1, {
        ("page", False): [Outcome(True, A1), F, F],   # n=2: bulk fails, fallback succeeds
        ("page", True): [Outcome(True, A1), F, F],
        ("slab", False): [Outcome(True, A1), F],
        ("slab", True): [Outcome(True, A1), F],
    }),
    "vmalloc-3": (_wl_vmalloc(3), 3, {
        ("page", False): [Outcome(True, A3), F, F, F],
        # every 2nd: order-1 fails, bulk gets 1 of 3, fallback 1 more, then fails -> 2 of 3
        ("page", True): [Outcome(True, A3),
                         Outcome(True, (pages_fail(12288, M_K),), exact=True), F, F],
        ("slab", False): [Outcome(True, A3), F],
        ("slab", True): [Outcome(True, A3), F],
    }),
    "vmalloc-512": (_wl_vmalloc(512), 512, {
        ("page", False): [Outcome(True, A512), F, F],
        ("page", True): [Outcome(True, A512), F, F],  # every 2nd: orders 8..1 + bulk + fallback
        ("slab", False): [Outcome(True, A512), F],
        ("slab", True): [Outcome(True, A512), F],
    }),
    "vmalloc-513": (_wl_vmalloc(513), 513, {
        ("page", False): [Outcome(True, A513), F, F, F, F],
        ("page", True): [Outcome(True, A513),
                         Outcome(True, (pages_fail(2101248, M_K),), exact=True), F, F, F],
        ("slab", False): [Outcome(True, A513), F],
        ("slab", True): [Outcome(True, A513), F],
    }),
    "vmalloc_huge": (_wl_huge, 512, {
        ("page", False): [HUGE_SMALL, HUGE_SMALL, HUGE_OK],
        ("page", True): [Outcome(True, AHUGE), HUGE_SMALL, HUGE_OK],
        ("slab", False): [HUGE_SMALL, HUGE_OK],
        ("slab", True): [Outcome(True, AHUGE), HUGE_OK],
    }),
    "memcg-3": (_wl_memcg, 3, {
        ("page", False): [Outcome(True, A3CG), F, F, F],
        ("page", True): [Outcome(True, A3CG),
                         Outcome(True, (pages_fail(12288, M_KA),), exact=True), F, F],
        ("slab", False): [Outcome(True, A3CG), F],
        ("slab", True): [Outcome(True, A3CG), F],
    }),
}


def _state(k: Kernel, cg: Cgroup | None) -> dict[str, int]:
    s = k.stats()
    d = {"free_pages": s.free_pages, "vmap_areas": s.vmap_areas, "slab_pages": s.slab_pages,
         "nr_vmalloc_pages": s.nr_vmalloc_pages}
    if cg is not None:
        d["usage"] = cg.usage
        d["memcg_vmalloc"] = cg.stat()["vmalloc"]
        d["memcg_kernel"] = cg.stat()["kernel"]
    return d


@pytest.mark.parametrize("kasan", ["off", "generic", "sw_tags"])
@pytest.mark.parametrize("every", [False, True])
@pytest.mark.parametrize("kind", ["page", "slab"])
@pytest.mark.parametrize("workload", list(SWEEP))
def test_fault_injection_sweep(workload: str, kind: str, every: bool, kasan: Mode) -> None:
    run, nr_pages, table = SWEEP[workload]
    outcomes = table[(kind, every)]
    name = "fail_page_alloc" if kind == "page" else "failslab"
    for n, want in enumerate(outcomes, start=1):
        # a fresh kernel per n: the counter starts at 0 whatever arming does to it (4.6)
        k = mk(kasan, seed=n)
        cg = k.memcg.create("sweep", max=3 * PAGE) if workload == "memcg-3" else None
        before = _state(k, cg)
        busy_before = k.stats().vmap_areas
        times = -1 if every else 1
        if kind == "page":
            k.fault.fail_page_alloc(probability=1.0, interval=n, times=times)
        else:
            k.fault.failslab(probability=1.0, interval=n, times=times)
        n0 = len(k.dmesg)
        with quiet():
            p = run(k, cg)
        k.check()
        new = norm(k.dmesg[n0:])
        where = f"{workload} {kind} every={every} n={n}"
        if cg is not None:
            assert cg.usage <= 3 * PAGE, where  # 13.2
        if want.fail:
            assert p is None, where
            assert _state(k, cg) == before, where
            assert k.stats().vmap_areas == busy_before
            if want.exact:
                assert new == list(want.tail), where
            else:
                assert new[-len(want.tail):] == list(want.tail), where
                # the failed candidate was not NOWARN (slab, or a slab refill): 4.6 lines
                assert new[:2] == fi_lines(name, n, 100, times), where
            continue
        assert p is not None, where
        area = k.find_vm_area(p)
        assert area is not None, where
        assert area.nr_pages == nr_pages and area.page_order == want.page_order, where
        if want.addr is not None:
            assert untag(p) == want.addr, where
        if cg is not None:
            assert cg.usage == 3 * PAGE and cg.stat()["vmalloc"] == 3 * PAGE, where
        k.write(p + nr_pages * PAGE - 1, b"\x5a")  # the whole area is mapped and clean
        k.vfree(p)
        k.check()
        assert _state(k, cg) == before, where
    assert k.kasan_reports == []


SLAB_ORDERS = {8: 0, 16: 0, 32: 0, 64: 0, 96: 0, 128: 0, 192: 0, 256: 0, 512: 0,
               1024: 1, 2048: 2, 4096: 3, 8192: 3}  # 11.2


@pytest.mark.parametrize("every", [False, True])
@pytest.mark.parametrize("kind", ["page", "slab"])
@pytest.mark.parametrize("size", list(SLAB_ORDERS))
def test_fault_injection_sweep_kmalloc(size: int, kind: str, every: bool) -> None:
    # one slab candidate (the kmalloc) and one page candidate (the slab refill) on a fresh
    # kernel (4.6, 11.2): n = 1 fails, n = 2 succeeds
    order = SLAB_ORDERS[size]
    times = -1 if every else 1
    for n in (1, 2):
        k = mk()
        before = _state(k, None)
        if kind == "page":
            k.fault.fail_page_alloc(probability=1.0, interval=n, times=times)
        else:
            k.fault.failslab(probability=1.0, interval=n, times=times)
        with quiet():
            x = k.kmalloc(size)
        k.check()
        if n == 1:
            assert x is None
            assert _state(k, None) == before
            if kind == "page":
                new = k.dmesg
                assert new[:2] == fi_lines("fail_page_alloc", 1, 100, times)
                # 4.2: the refill's warn_alloc (its exact gfp text is the slab's choice)
                assert len(new) == 3
                assert new[2].startswith(f"kvalloc: page allocation failure: order:{order}, mode:")
            else:
                assert k.dmesg[:2] == fi_lines("failslab", 1, 100, times)
            continue
        assert x is not None
        assert k.ksize(x) == size
        assert k.stats().slab_pages == 1 << order
        k.kfree(x)
        k.check()
        assert _state(k, None) == before


# =========================================================================== memcg


def _limits_hold(*cgs: Cgroup) -> None:
    for cg in cgs:
        assert cg.max is None or cg.usage <= cg.max, cg  # 13.2 / INV-CG-3


def test_memcg_hierarchy_and_sibling_limits() -> None:
    k = mk()
    parent = k.memcg.create("parent", max=16 * PAGE)
    c1 = k.memcg.create("c1", parent=parent, max=4 * PAGE)
    c2 = k.memcg.create("c2", parent=parent)
    other = k.memcg.create("other", max=PAGE)
    allcg = (parent, c1, c2, other)
    # c1: 8 pages over its own limit of 4 (13.2): order-3 charge fails (event), order 2 is
    # charged (4), order 2 again fails, order 1 fails, the bulk frame fails, the fallback
    # frame fails -> 5 events on c1 and on its ancestor parent; then 8.4 step 6 and cleanup
    n0 = len(k.dmesg)
    with k.memcg.charge_to(c1), quiet():
        assert k.vmalloc(8 * PAGE, GFP.KERNEL_ACCOUNT) is None
    k.check()
    _limits_hold(*allcg)
    assert norm(k.dmesg[n0:]) == [pages_fail(32768, M_KA)]
    assert (c1.usage, parent.usage, c2.usage) == (0, 0, 0)
    assert (c1.events()["max"], parent.events()["max"], c2.events()["max"]) == (5, 5, 0)
    # c2 (unlimited) is unaffected by its sibling's limit: one order-3 block
    with k.memcg.charge_to(c2):
        a = ok(k, k.vmalloc(8 * PAGE, GFP.KERNEL_ACCOUNT))
    _limits_hold(*allcg)
    assert (c1.usage, c2.usage, parent.usage) == (0, 8 * PAGE, 8 * PAGE)
    assert c2.stat() == {"kernel": 8 * PAGE, "vmalloc": 8 * PAGE}
    assert parent.stat() == {"kernel": 8 * PAGE, "vmalloc": 8 * PAGE}  # hierarchical (13.3)
    with k.memcg.charge_to(c1):
        b = ok(k, k.vmalloc(4 * PAGE, GFP.KERNEL_ACCOUNT))
    _limits_hold(*allcg)
    assert (c1.usage, c2.usage, parent.usage) == (4 * PAGE, 8 * PAGE, 12 * PAGE)
    # c2 again, 8 pages: the parent's limit (16) is what is exceeded. m = parent: order 3
    # fails (12+8), order 2 fits (16), order 2 fails, order 1 fails, bulk and fallback fail:
    # 5 more events on the parent, none on c2 (not m nor an ancestor of m) or c1
    n1 = len(k.dmesg)
    with k.memcg.charge_to(c2), quiet():
        assert k.vmalloc(8 * PAGE, GFP.KERNEL_ACCOUNT) is None
    k.check()
    _limits_hold(*allcg)
    assert norm(k.dmesg[n1:]) == [pages_fail(32768, M_KA)]
    assert (c1.usage, c2.usage, parent.usage) == (4 * PAGE, 8 * PAGE, 12 * PAGE)
    assert (c1.events()["max"], c2.events()["max"], parent.events()["max"]) == (5, 0, 10)
    # a cgroup outside the tree is unaffected by both
    with k.memcg.charge_to(other):
        c = ok(k, k.vmalloc(PAGE, GFP.KERNEL_ACCOUNT))
    assert other.usage == PAGE and parent.usage == 12 * PAGE
    assert other.events()["max"] == 0
    for p in (a, b, c):
        k.vfree(p)
        k.check()
        _limits_hold(*allcg)
    for cg in allcg:
        assert cg.usage == 0 and cg.stat() == {"kernel": 0, "vmalloc": 0}


def test_memcg_over_limit_fails_and_gives_everything_back() -> None:
    # 13.2 worked: max 3 pages, 4 pages requested: order 2 fails (1), order 1 charged (2),
    # order 1 again fails (2), bulk: one frame charged (3), the next fails (3), fallback fails
    # (4) -> 3 of 4 pages -> 8.4 step 6 line -> cleanup uncharges all
    k = mk("generic")
    cg = k.memcg.create("lim", max=3 * PAGE)
    x = ok(k, k.vmalloc(PAGE))  # unrelated state that must survive
    s0 = k.stats()
    n0 = len(k.dmesg)
    with k.memcg.charge_to(cg), quiet():
        assert k.vmalloc(4 * PAGE, GFP.KERNEL_ACCOUNT) is None
    k.check()
    s1 = k.stats()
    assert norm(k.dmesg[n0:]) == [pages_fail(16384, M_KA)]
    assert cg.usage == 0 and cg.stat()["vmalloc"] == 0
    assert cg.events()["max"] == 4
    assert (s1.free_pages, s1.vmap_areas, s1.slab_pages, s1.nr_vmalloc_pages) == (
        s0.free_pages, s0.vmap_areas, s0.slab_pages, s0.nr_vmalloc_pages)
    assert s1.vmap_lazy_nr == s0.vmap_lazy_nr + 5  # 8.4 step 8: the VA (4 + guard) went lazy
    # NOWARN: the same failure, silent
    n1 = len(k.dmesg)
    with k.memcg.charge_to(cg):
        assert k.vmalloc(4 * PAGE, GFP.KERNEL_ACCOUNT | GFP.NOWARN) is None
    assert k.dmesg[n1:] == [] and cg.events()["max"] == 8
    # exactly the limit fits: order 1 + bulk frame, usage == max
    with k.memcg.charge_to(cg):
        p = ok(k, k.vmalloc(3 * PAGE, GFP.KERNEL_ACCOUNT))
    assert cg.usage == 3 * PAGE == cg.max
    k.vfree(p)
    k.vfree(x)
    k.check()
    assert cg.usage == 0


def test_memcg_huge_over_limit_events() -> None:
    # 8.3/8.5/13.2: max 1 MiB (256 pages), vmalloc_huge(2 MiB, KERNEL_ACCOUNT):
    # huge try: order 9 charge fails (1), no warn for page_order 9; small retry: order 9 (2),
    # order 8 charged, orders 8, 7, 6, 5, 4, 3, 2, 1 fail (10), bulk frame (11), fallback (12)
    k = mk()
    cg = k.memcg.create("h", max=256 * PAGE)
    n0 = len(k.dmesg)
    with k.memcg.charge_to(cg), quiet():
        assert k.vmalloc_huge(PMD_SIZE, GFP.KERNEL_ACCOUNT) is None
    k.check()
    assert norm(k.dmesg[n0:]) == [pages_fail(2097152, M_KA)]
    assert cg.events()["max"] == 12
    assert cg.usage == 0
    assert k.stats().free_pages == k.stats().total_pages
    cg.max = None
    with k.memcg.charge_to(cg):
        p = ok(k, k.vmalloc_huge(PMD_SIZE, GFP.KERNEL_ACCOUNT))
    area = k.find_vm_area(p)
    assert area is not None and area.page_order == 9
    assert cg.usage == PMD_SIZE and cg.stat()["vmalloc"] == PMD_SIZE
    k.vfree(p)
    k.check()
    assert cg.usage == 0


def test_memcg_vmalloc_stat_counts_only_charged_area_pages() -> None:
    # 8.4 step 3: page arrays are never charged; 11.2: slab objects are not charged, large
    # kmalloc blocks are; 13.3: "vmalloc" counts charged vmalloc pages, "kernel" all charged
    k = mk()
    cg = k.memcg.create("st")
    with k.memcg.charge_to(cg):
        a = ok(k, k.vmalloc(513 * PAGE, GFP.KERNEL_ACCOUNT))  # array: nested 2-page vmalloc
        b = ok(k, k.vmalloc(3 * PAGE))                        # not accounted
        c = ok(k, k.kmalloc(16384, GFP.KERNEL_ACCOUNT))      # large kmalloc: order 2, charged
        d = ok(k, k.kmalloc(100, GFP.KERNEL_ACCOUNT))        # slab object: not charged
        e = ok(k, k.vmalloc_huge(PMD_SIZE, GFP.KERNEL_ACCOUNT))
        f = ok(k, k.vzalloc(5 * PAGE))                        # GFP_KERNEL | ZERO: not charged
    assert cg.usage == (513 + 4 + 512) * PAGE
    assert cg.stat() == {"kernel": (513 + 4 + 512) * PAGE, "vmalloc": (513 + 512) * PAGE}
    # NR_VMALLOC counts every vmalloc page, charged or not, arrays included (8.4 step 5, 13.3)
    assert k.stats().nr_vmalloc_pages == 513 + 2 + 3 + 512 + 5
    k.vfree(a)
    k.check()
    assert cg.stat() == {"kernel": (4 + 512) * PAGE, "vmalloc": 512 * PAGE}
    k.kfree(c)
    assert cg.stat() == {"kernel": 512 * PAGE, "vmalloc": 512 * PAGE}
    for p in (b, e, f):
        k.vfree(p)
    k.kfree(d)
    k.check()
    assert cg.usage == 0 and cg.stat() == {"kernel": 0, "vmalloc": 0}
    assert k.stats().nr_vmalloc_pages == 0


def test_memcg_uncharge_goes_to_owner_and_charge_to_is_per_thread() -> None:
    # 13.1: freeing uncharges the page's cgroup whichever is current; charge_to is per
    # thread (API 4.4); the root is never charged
    k = mk()
    cg1 = k.memcg.create("one")
    cg2 = k.memcg.create("two")
    out: list[int | None] = []

    def worker() -> None:
        out.append(k.vmalloc(PAGE, GFP.KERNEL_ACCOUNT))   # this thread: root -> not charged
        with k.memcg.charge_to(cg2):
            out.append(k.vmalloc(2 * PAGE, GFP.KERNEL_ACCOUNT))

    with k.memcg.charge_to(cg1):
        t = threading.Thread(target=worker)
        t.start()
        t.join()
        p = ok(k, k.vmalloc(4 * PAGE, GFP.KERNEL_ACCOUNT))
    k.check()
    assert (cg1.usage, cg2.usage) == (4 * PAGE, 2 * PAGE)
    with k.memcg.charge_to(cg2):
        k.vfree(p)  # uncharges cg1, not cg2
    assert (cg1.usage, cg2.usage) == (0, 2 * PAGE)
    for q in out:
        k.vfree(ok(k, q))
    k.check()
    assert (cg1.usage, cg2.usage) == (0, 0)


def test_memcg_max_zero_events_and_large_kmalloc_charge_failure() -> None:
    k = mk()
    cg = k.memcg.create("zero", max=0)
    # 1 page: no large-order attempt (ilog2(1) = 0); bulk frame fails (1), fallback fails (2)
    n0 = len(k.dmesg)
    with k.memcg.charge_to(cg), quiet():
        assert k.vmalloc(PAGE, GFP.KERNEL_ACCOUNT) is None
    assert norm(k.dmesg[n0:]) == [pages_fail(4096, M_KA)]
    assert cg.events() == {"low": 0, "high": 0, "max": 2, "oom": 0, "oom_kill": 0,
                           "oom_group_kill": 0}
    # 4.7: a large kmalloc whose charge fails frees the block and fails without a message
    n1 = len(k.dmesg)
    with k.memcg.charge_to(cg):
        assert k.kmalloc(16384, GFP.KERNEL_ACCOUNT) is None
        assert ok(k, k.kmalloc(100, GFP.KERNEL_ACCOUNT)) is not None  # slab: not charged
    assert k.dmesg[n1:] == []
    assert cg.events()["max"] == 3 and cg.usage == 0
    k.check()


def test_memcg_key_sets() -> None:
    # 13.3: memory.stat prints kernel then vmalloc; memory.events low, high, max, oom,
    # oom_kill, oom_group_kill
    k = mk()
    cg = k.memcg.create("keys")
    assert list(cg.stat()) == ["kernel", "vmalloc"]
    assert list(cg.events()) == ["low", "high", "max", "oom", "oom_kill", "oom_group_kill"]
    assert cg.max is None and cg.usage == 0


def test_memcg_lowered_max_does_not_reclaim() -> None:
    # 13.2: lowering memory.max below the usage reclaims nothing; later charges fail
    k = mk()
    cg = k.memcg.create("low")
    with k.memcg.charge_to(cg):
        p = ok(k, k.vmalloc(4 * PAGE, GFP.KERNEL_ACCOUNT))
    cg.max = 2 * PAGE
    assert cg.usage == 4 * PAGE
    k.check()  # INV-CG-3 allows it after a lowered max
    with k.memcg.charge_to(cg), quiet():
        assert k.vmalloc(PAGE, GFP.KERNEL_ACCOUNT) is None
    assert cg.usage == 4 * PAGE and cg.events()["max"] == 2
    k.vfree(p)
    k.check()
    assert cg.usage == 0
    with k.memcg.charge_to(cg):
        q = ok(k, k.vmalloc(2 * PAGE, GFP.KERNEL_ACCOUNT))  # one order-1 block fits exactly
    _limits_hold(cg)
    k.vfree(q)
    k.check()


def test_memcg_nofail_may_exceed_max() -> None:
    # 13.2: with __GFP_NOFAIL everything is charged anyway. Events are not asserted: whether
    # the bulk step keeps NOFAIL is not stated (8.5), which changes the count.
    k = mk()
    cg = k.memcg.create("nf", max=3 * PAGE)
    with k.memcg.charge_to(cg), quiet():
        p = ok(k, k.vmalloc(4 * PAGE, GFP.KERNEL_ACCOUNT | GFP.NOFAIL))
    assert cg.usage == 4 * PAGE and cg.stat()["vmalloc"] == 4 * PAGE
    assert cg.events()["max"] >= 3  # at least order 2, order 1 again, one order-0 charge
    k.check()  # INV-CG-3: allowed after a NOFAIL charge
    k.vfree(p)
    k.check()
    assert cg.usage == 0
