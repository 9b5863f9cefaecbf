"""The page table and memory access (kvalloc.mm.pgtable): direct map, translation, faults."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from kvalloc import VMALLOC_END, Kernel, PageFault

from ..helpers import PAGE_OFFSET, PFN0, TOTAL_4G, VS, ck, dm, nn, pfns, stats

# -- direct map and translation --------------------------------------------------------------------


@pytest.mark.spec
def test_direct_map_is_always_mapped() -> None:
    k = Kernel()
    # 5.1: direct map of every frame, free or not; contents start as zeros (4.1)
    assert ck(k, k.read(dm(PFN0), 16)) == bytes(16)
    last = PFN0 + TOTAL_4G - 1
    assert ck(k, k.read(dm(last) + 4095, 1)) == b"\0"
    k.write(dm(PFN0 + 7) + 10, b"hello")
    k.check()
    assert ck(k, k.read(dm(PFN0 + 7) + 10, 5)) == b"hello"
    # one past the last frame and pfn 0 are unmapped
    for addr in (dm(last + 1), PAGE_OFFSET):
        n = len(k.dmesg)
        with pytest.raises(PageFault) as exc:
            k.read(addr, 1)
        k.check()
        assert str(exc.value) == f"BUG: unable to handle page fault for address: 0x{addr:x}"
        assert k.dmesg[n:] == [
            f"BUG: unable to handle page fault for address: {addr:016x}",
            "#PF: supervisor read access in kernel mode",
            "#PF: error_code(0x0000) - not-present page",
        ]


def test_memcpy_memset_and_direct_map() -> None:
    k = Kernel()
    a, b = k.vmalloc(3 * 4096), k.vmalloc(3 * 4096)
    assert a is not None and b is not None
    payload = bytes(range(256)) * 48
    k.write(a, payload)
    k.memcpy(b, a, len(payload))
    assert k.read(b, len(payload)) == payload
    k.memcpy(b + 1, a + 4000, 200)            # unaligned, crossing pages
    assert k.read(b + 1, 200) == payload[4000:4200]
    k.memset(b, 0xAB, 5000)
    assert k.read(b, 5000) == b"\xab" * 5000
    k.memset(b, 0, 4096)
    assert k.read(b, 4096) == bytes(4096)
    # a vmalloc page is also reachable through the direct map of its frame
    page = k.vmalloc_to_page(a + 4096)
    assert page is not None
    assert k.read(PAGE_OFFSET + page.pfn * 4096, 16) == payload[4096:4112]
    obj = k.kmalloc(100)
    assert obj is not None and obj >= PAGE_OFFSET
    k.write(obj, b"slab!")
    assert k.read(obj, 5) == b"slab!"
    k.check()


@pytest.mark.spec
def test_page_table_translation_non_contiguous_pages() -> None:
    k = Kernel()
    p = nn(ck(k, k.vmalloc(3 * 4096)))
    # 8.4/8.5: array 24 bytes -> kmalloc-32 slab at 0x100000; ilog2(3)=1 -> order-1 block
    # 0x100002; then the bulk step takes 0x100001.
    assert pfns(k, p) == [PFN0 + 2, PFN0 + 3, PFN0 + 1]
    assert [nn(k.vmalloc_to_page(p + i * 4096 + 5)).pfn for i in range(3)] == pfns(k, p)
    model = bytearray(k.read(p, 3 * 4096))
    k.memset(p, 0xAB, 3 * 4096)
    k.check()
    model[:] = b"\xab" * len(model)
    k.write(p + 8190, b"abcd")  # crosses page 1 -> page 2
    k.check()
    model[8190:8194] = b"abcd"
    assert ck(k, k.read(dm(PFN0 + 3) + 4094, 2)) == b"ab"
    assert ck(k, k.read(dm(PFN0 + 1), 2)) == b"cd"
    k.write(p + 4000, bytes(range(200)))
    k.check()
    model[4000:4200] = bytes(range(200))
    k.memcpy(p + 9000, p + 4000, 200)
    k.check()
    model[9000:9200] = model[4000:4200]
    assert ck(k, k.read(p, 3 * 4096)) == bytes(model)
    assert ck(k, k.read(dm(PFN0 + 1) + 9000 - 8192, 200)) == bytes(range(200))
    # writes through the direct map are visible through the vmalloc mapping
    k.write(dm(PFN0 + 2), bytearray(b"direct"))
    k.check()
    assert ck(k, k.read(p, 6)) == b"direct"
    k.write(dm(PFN0 + 2) + 6, memoryview(b"view"))
    k.check()
    assert ck(k, k.read(p, 10)) == b"directview"


def test_direct_view_is_the_same_memory() -> None:
    k = Kernel()
    p = k.vmalloc(3 * 4096)
    assert p is not None
    view = k.direct_view(p, 3 * 4096)
    assert len(view.pages) == 3 and view.offset == 0 and not view.checked
    q = [mv.cast("Q") for mv in view.pages]
    q[1][3] = 0x1122334455667788
    assert k.read(p + 4096 + 24, 8) == (0x1122334455667788).to_bytes(8, "little")
    k.write(p + 8192, b"\x01" * 8)
    assert q[2][0] == 0x0101010101010101
    k.memset(p, 0, 3 * 4096)                  # zeroing keeps the views valid
    assert q[1][3] == 0
    obj = k.kmalloc(96)
    assert obj is not None
    v2 = k.direct_view(obj + 8, 16)
    assert v2.offset == (obj + 8) % 4096
    k.check()


# -- page faults -----------------------------------------------------------------------------------


def test_guard_page_and_unmapped_addresses_fault() -> None:
    k = Kernel()
    p = k.vmalloc(5001)
    assert p is not None
    k.write(p + 8191, b"x")
    with pytest.raises(PageFault, match="^BUG: unable to handle page fault for address: 0xffffc90000002000$"):
        k.write(p + 8191, b"xy")
    assert k.dmesg[-3:] == ["BUG: unable to handle page fault for address: ffffc90000002000",
                            "#PF: supervisor write access in kernel mode",
                            "#PF: error_code(0x0002) - not-present page"]
    assert k.read(p + 8191, 1) == b"x"     # the failed write wrote nothing
    with pytest.raises(PageFault, match="NULL pointer dereference, address: 0x10$"):
        k.read(16, 4)
    assert k.dmesg[-3:] == ["BUG: kernel NULL pointer dereference, address: 0000000000000010",
                            "#PF: supervisor read access in kernel mode",
                            "#PF: error_code(0x0000) - not-present page"]
    with pytest.raises(PageFault):
        k.memset(VMALLOC_END - 4096, 0, 1)
    k.check()


def _fault_address(exc: PageFault, prefix: str) -> int:
    text = str(exc)
    assert text.startswith(prefix + "0x"), text
    return int(text[len(prefix) + 2:], 16)


@pytest.mark.spec
def test_null_pointer_and_user_address_oops() -> None:
    k = Kernel()
    before = stats(k)
    n = len(k.dmesg)
    with pytest.raises(PageFault) as exc:
        k.read(0, 8)
    k.check()
    # 5.4: a < 4096 gives the NULL pointer variant; %px pads to 16 digits
    assert _fault_address(exc.value, "BUG: kernel NULL pointer dereference, address: ") == 0
    assert k.dmesg[n:] == [
        "BUG: kernel NULL pointer dereference, address: 0000000000000000",
        "#PF: supervisor read access in kernel mode",
        "#PF: error_code(0x0000) - not-present page",
    ]
    n = len(k.dmesg)
    with pytest.raises(PageFault) as exc:
        k.write(0x10, b"a")
    k.check()
    assert _fault_address(exc.value, "BUG: kernel NULL pointer dereference, address: ") == 0x10
    assert k.dmesg[n:] == [
        "BUG: kernel NULL pointer dereference, address: 0000000000000010",
        "#PF: supervisor write access in kernel mode",
        "#PF: error_code(0x0002) - not-present page",
    ]
    n = len(k.dmesg)
    with pytest.raises(PageFault) as exc:
        k.memset(0x1000, 0, 8)  # user space: never mapped (5.1)
    k.check()
    assert _fault_address(exc.value, "BUG: unable to handle page fault for address: ") == 0x1000
    assert k.dmesg[n:] == [
        "BUG: unable to handle page fault for address: 0000000000001000",
        "#PF: supervisor write access in kernel mode",
        "#PF: error_code(0x0002) - not-present page",
    ]
    assert stats(k) == before  # an oops is not a WARN


def _oops(addr: int, write: bool) -> list[str]:
    kind = "write" if write else "read"
    code = "0x0002" if write else "0x0000"
    return [
        f"BUG: unable to handle page fault for address: {addr:016x}",
        f"#PF: supervisor {kind} access in kernel mode",
        f"#PF: error_code({code}) - not-present page",
    ]


@pytest.mark.spec
def test_guard_page_and_straddling_accesses_fault() -> None:
    k = Kernel()
    p = nn(ck(k, k.vmalloc(4096)))
    assert p == VS
    k.write(p, bytes(range(256)) * 16)
    k.check()
    guard = p + 4096
    cases: list[tuple[Callable[[], object], bool]] = [
        (lambda: k.read(guard, 1), False),
        (lambda: k.read(p + 4090, 10), False),  # lowest unmapped address is the guard
        (lambda: k.write(p + 4094, b"abcd"), True),
        (lambda: k.memset(p + 4000, 0x55, 200), True),
        (lambda: k.memcpy(p, p + 4090, 10), False),  # source fails: read access
        (lambda: k.memcpy(p + 4090, dm(PFN0), 10), True),  # destination fails: write
    ]
    for call, write in cases:
        before = stats(k)
        n = len(k.dmesg)
        with pytest.raises(PageFault) as exc:
            call()
        k.check()
        assert str(exc.value) == "BUG: unable to handle page fault for address: 0xffffc90000001000"
        assert k.dmesg[n:] == _oops(guard, write)
        assert stats(k) == before
    # 5.4 step 2: nothing was transferred by the faulting calls
    assert ck(k, k.read(p, 4096)) == bytes(range(256)) * 16


@pytest.mark.spec
def test_access_after_vfree_faults() -> None:
    k = Kernel()
    p = nn(ck(k, k.vmalloc(8192)))
    k.write(p + 4096, b"x")
    k.check()
    k.vfree(p)
    k.check()
    assert k.vmalloc_to_page(p) is None  # 6.8: PTEs cleared at free
    n = len(k.dmesg)
    with pytest.raises(PageFault):
        k.read(p + 4096, 1)
    k.check()
    assert k.dmesg[n:] == _oops(p + 4096, False)


@pytest.mark.parametrize("huge", [False, True], ids=["ptes", "pmd leaves"])
def test_pfns_of_a_range_match_translation_page_by_page(huge: bool) -> None:
    """``PageTable.pfns`` reads whole-run PTE tables and PMD leaves as ranges: the same
    frames as translating each page, from any offset and length."""
    k = Kernel()
    pt = k.machine.pgtable
    size = 6 << 20
    p = nn(k.vmalloc_huge(size) if huge else k.vmalloc(size))
    assert bool(pt.pmd) is huge and (huge or pt.pte_runs)
    for off, n in ((0, size), (4096 * 3 + 5, 3 << 20), (2 << 20, 4096), (size - 9, 9)):
        vpn = (p + off) >> 12
        last = (p + off + n - 1) >> 12
        assert pt.pfns(p + off, n, False) == [pt.translate(v) for v in range(vpn, last + 1)]
    k.vfree(p)
    k.check()
