"""PageTable.memcpy over large ranges: the per-PTE-table run index (``pte_runs``), copies
across 64 MiB contents chunks, PMD leaves, remapped and unmapped pages, overlap."""

from __future__ import annotations

import random

import pytest

from kvalloc import GFP, Kernel, KernelConfig, PageFault
from kvalloc.mm.page_alloc import CHUNK_FRAMES
from kvalloc.tools.bench import fragmented_kernel

from ..helpers import MIB, PAGE, dm, nn, pfns


def _pattern(n: int, seed: int = 0) -> bytes:
    return random.Random(seed).randbytes(n)


def _copied(k: Kernel) -> int:
    return k.work().bytes_copied


def test_vmalloc_records_whole_run_pte_tables_and_unmap_drops_them() -> None:
    k = Kernel()
    pt = k.machine.pgtable
    small = nn(k.vmalloc(100 * PAGE))
    assert not pt.pte_runs                     # fewer than 512 pages: no table is whole
    p = nn(k.vmalloc(4 * MIB))
    frames = pfns(k, p)
    assert frames == list(range(frames[0], frames[0] + 1024))
    vpn = p >> 12
    tables = {idx for idx in range((vpn + 511) >> 9, (vpn + 1024) >> 9)
              if (idx + 1) << 9 <= vpn + 1024}
    assert set(pt.pte_runs) == tables and tables
    for idx in tables:
        assert pt.pte_runs[idx] == frames[(idx << 9) - vpn]
    pt.check_pte_runs()
    k.vfree(p)
    assert not pt.pte_runs
    k.vfree(small)
    k.check()
    pt.check_pte_runs()


def test_memcpy_of_one_run_across_a_contents_chunk_boundary() -> None:
    k = Kernel(KernelConfig(ram=1 << 30))
    size = 8 * MIB
    filler = nn(k.vmalloc(56 * MIB))          # the source's frames then straddle a chunk end
    src, dst = nn(k.vmalloc(size)), nn(k.vmalloc(size))
    sf, df = pfns(k, src), pfns(k, dst)
    assert sf == list(range(sf[0], sf[0] + len(sf))) and df == list(range(df[0], df[0] + len(df)))
    crosses = [f[0] // CHUNK_FRAMES != f[-1] // CHUNK_FRAMES for f in (sf, df)]
    assert crosses == [True, False], (hex(sf[0]), hex(df[0]))
    data = _pattern(size)
    k.write(src, data)
    before = _copied(k)
    k.memcpy(dst, src, size)
    assert _copied(k) - before == size
    assert k.read(dst, size) == data
    # unaligned start and end, both mid-table, through the chunk boundary
    k.memset(dst, 0, size)
    k.memcpy(dst + 5000, src + 5000, size - 9000)
    assert k.read(dst, size) == bytes(5000) + data[5000:size - 4000] + bytes(4000)
    assert _copied(k) - before == 2 * size - 9000
    k.check()
    k.machine.pgtable.check_pte_runs()
    for a in (filler, src, dst):
        k.vfree(a)


def test_memcpy_from_a_never_written_source_zeroes_the_destination() -> None:
    k = Kernel()
    src, dst = nn(k.vmalloc(4 * MIB)), nn(k.vmalloc(4 * MIB))
    k.memset(dst, 0x5A, 4 * MIB)
    k.memcpy(dst + 100, src + 100, 3 * MIB)
    got = k.read(dst, 4 * MIB)
    assert got == b"\x5a" * 100 + bytes(3 * MIB) + b"\x5a" * (MIB - 100)


def test_memcpy_through_pmd_leaves() -> None:
    k = Kernel()
    size = 8 * MIB
    src, dst = nn(k.vmalloc_huge(size)), nn(k.vmalloc_huge(size))
    assert k.machine.pgtable.pmd
    data = _pattern(size, 1)
    k.write(src, data)
    k.memcpy(dst + 123, src + 123, size - 200)
    assert k.read(dst + 123, size - 200) == data[123:size - 77]
    k.check()


def test_memcpy_follows_a_vmap_of_pages_in_another_order() -> None:
    # vmap() of 1024 frames that are consecutive except two swapped pages: their PTE table
    # is not a run, and the copy follows the page table page by page
    k = Kernel()
    pages = k.alloc_pages_bulk(1024)
    first = pages[0].pfn
    assert [pg.pfn for pg in pages] == list(range(first, first + 1024))
    pages[700], pages[701] = pages[701], pages[700]
    dst = nn(k.vmap(pages))
    pt = k.machine.pgtable
    vpn = dst >> 12
    assert [pt.translate(vpn + i) for i in range(1024)] == [pg.pfn for pg in pages]
    assert (vpn + 700) >> 9 not in pt.pte_runs
    pt.check_pte_runs()
    src = nn(k.vmalloc(4 * MIB))
    data = _pattern(4 * MIB, 2)
    k.write(src, data)
    k.memcpy(dst, src, 4 * MIB)
    assert k.read(dst, 4 * MIB) == data
    swapped = bytearray(data)                      # the frames' bytes in pfn order
    swapped[700 * PAGE:701 * PAGE], swapped[701 * PAGE:702 * PAGE] = \
        data[701 * PAGE:702 * PAGE], data[700 * PAGE:701 * PAGE]
    assert k.read(dm(first), 4 * MIB) == bytes(swapped)
    k.vunmap(dst)
    k.vfree(src)
    for pg in pages:
        k.free_pages(pg, 0)
    k.check()


def test_memcpy_after_the_range_is_remapped_to_other_frames() -> None:
    # a whole-run area is freed and its address reused by frames that are not one run:
    # no stale run survives the unmap
    k = fragmented_kernel(32 * MIB, run=1100)
    pt = k.machine.pgtable
    a = nn(k.vmalloc(2 * MIB))
    keep = nn(k.kmalloc(4096))      # keeps the kmalloc-4k slab of the areas' page arrays
    assert pt.pte_runs
    k.vfree(a)
    k.vm_unmap_aliases()
    assert not pt.pte_runs
    hold = []                                      # every free block but the singles
    for order in range(10, 0, -1):
        while (pg := k.alloc_pages(order, GFP.KERNEL | GFP.NOWARN)) is not None:
            hold.append((pg, order))
    b = nn(k.vmalloc(2 * MIB))
    assert b == a
    frames = pfns(k, b)
    assert all(y != x + 1 for x, y in zip(frames, frames[1:])), "frames are adjacent"
    assert not pt.pte_runs
    src = nn(k.vmalloc(2 * MIB))
    data = _pattern(2 * MIB, 3)
    k.write(src, data)
    k.memcpy(b, src, 2 * MIB)
    assert k.read(b, 2 * MIB) == data
    assert k.read(dm(frames[1]), PAGE) == data[PAGE:2 * PAGE]
    for pg, order in hold:
        k.free_pages(pg, order)
    k.kfree(keep)
    k.check()
    pt.check_pte_runs()


@pytest.mark.parametrize("side", ["src", "dst"])
def test_memcpy_into_an_unmapped_tail_faults_and_copies_nothing(side: str) -> None:
    # a 4 MiB area shrunk in place to 1 MiB: the tail's PTEs and its table runs are gone,
    # and a copy that reaches them oopses at the first unmapped page
    k = Kernel()
    a, b = nn(k.vmalloc(4 * MIB)), nn(k.vmalloc(4 * MIB))
    k.memset(a, 0x11, 4 * MIB)
    k.memset(b, 0x22, 4 * MIB)
    shrunk = a if side == "src" else b
    assert k.vrealloc(shrunk, MIB) == shrunk
    assert k.machine.pgtable.translate(shrunk + MIB >> 12) is None
    k.machine.pgtable.check_pte_runs()
    before, n = _copied(k), len(k.dmesg)
    with pytest.raises(PageFault, match=f"address: {shrunk + MIB:#x}$"):
        k.memcpy(b, a, 2 * MIB)
    kind = "read" if side == "src" else "write"
    assert k.dmesg[n + 1] == f"#PF: supervisor {kind} access in kernel mode"
    assert _copied(k) == before
    assert k.read(a, MIB) == b"\x11" * MIB and k.read(b, MIB) == b"\x22" * MIB
    k.check()


def test_memcpy_whose_source_faults_reports_the_source_first() -> None:
    # both sides reach unmapped pages: the source is walked first, as before
    k = Kernel()
    a, b = nn(k.vmalloc(4 * MIB)), nn(k.vmalloc(4 * MIB))
    with pytest.raises(PageFault, match=f"address: {a + 4 * MIB:#x}$"):
        k.memcpy(b + PAGE, a + PAGE, 4 * MIB)
    assert k.dmesg[-2] == "#PF: supervisor read access in kernel mode"


def test_overlapping_copy_inside_one_run_is_a_memmove() -> None:
    k = Kernel()
    a = nn(k.vmalloc(4 * MIB))
    data = _pattern(4 * MIB, 4)
    k.write(a, data)
    k.memcpy(a + 3 * PAGE, a, 3 * MIB)        # forward overlap
    assert k.read(a + 3 * PAGE, 3 * MIB) == data[:3 * MIB]
    k.write(a, data)
    k.memcpy(a, a + 3 * PAGE, 3 * MIB)        # backward overlap
    assert k.read(a, 3 * MIB) == data[3 * PAGE:3 * PAGE + 3 * MIB]


def test_pte_runs_stay_exact_through_random_vmalloc_vrealloc_vfree() -> None:
    # areas of 1..1500 pages grown, shrunk (in place or moved) and freed; after every step
    # the index matches the PTEs and a copy between two live areas reads back what was
    # written there
    rng = random.Random(5)
    k = Kernel(KernelConfig(ram=256 * MIB))
    pt = k.machine.pgtable
    live: dict[int, bytes] = {}
    for step in range(80):
        op = rng.random()
        if op < 0.4 or len(live) < 2:
            size = rng.randrange(1, 1500) * PAGE
            a = nn(k.vmalloc_huge(size) if rng.random() < 0.2 else k.vmalloc(size))
            data = _pattern(size, step)
            k.write(a, data)
            live[a] = data
        elif op < 0.6:
            a = rng.choice(list(live))
            size = rng.randrange(1, 1500) * PAGE
            b = nn(k.vrealloc(a, size))
            old = live.pop(a)
            kept = min(size, len(old))
            assert k.read(b, kept) == old[:kept]
            live[b] = old[:kept] + k.read(b + kept, size - kept)   # the tail: vrealloc's
        elif op < 0.8:
            a = rng.choice(list(live))
            k.vfree(a)
            del live[a]
            if rng.random() < 0.5:
                k.vm_unmap_aliases()
        else:
            s, d = rng.sample(list(live), 2)
            n = min(len(live[s]), len(live[d]))
            lo = rng.randrange(n)
            hi = rng.randrange(lo, n) + 1
            k.memcpy(d + lo, s + lo, hi - lo)
            live[d] = live[d][:lo] + live[s][lo:hi] + live[d][hi:]
        pt.check_pte_runs()
    for a, data in live.items():
        assert k.read(a, len(data)) == data
    k.check()


@pytest.mark.parametrize("break_it", ["wrong frame", "pte removed", "pmd leaf"])
def test_kernel_check_catches_a_wrong_pte_run(break_it: str) -> None:
    from kvalloc import KernelBug
    k = Kernel()
    p = nn(k.vmalloc(4 * MIB))
    pt = k.machine.pgtable
    k.check()
    idx = next(iter(pt.pte_runs))
    if break_it == "wrong frame":
        pt.pte_runs[idx] += 1
    elif break_it == "pte removed":
        del pt.pte[(idx << 9) + 7]
    else:
        pt.pmd[idx] = pt.pte_runs[idx]
    with pytest.raises(KernelBug, match=r"^INV-PT-\d: "):
        k.check()
    with pytest.raises(KernelBug, match=r"^INV-PT-3: pte_runs: the PTE table at 0x[0-9a-f]+ does "
                                        r"not map frames 0x[0-9a-f]+\.\.0x[0-9a-f]+$"):
        pt.check_pte_runs()
    del p
