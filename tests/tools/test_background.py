"""A busy address space for the growth study (kvalloc.tools.background): parsing vmallocinfo,
recreating a machine's population, lib/test_vmalloc.c-style churn, fragmentation columns."""

from __future__ import annotations

import collections
import dataclasses
import pathlib
import re

import pytest

from kvalloc import GFP, PAGE_SIZE, VM, VMALLOC_END, VMALLOC_START, VMAP_BLOCK_SIZE, Kernel, KernelConfig
from kvalloc.tools.background import (
    CHURN_CASES,
    FRAGMENTATION_COLUMNS,
    KINDS,
    Churn,
    Population,
    VmallocinfoEntry,
    fragmentation,
    load_vmallocinfo,
    parse_vmallocinfo,
    populate,
    ram_needed,
    release,
)
from kvalloc.tools.workloads import demo

from ..helpers import kernel_warnings, nn

SAMPLE = pathlib.Path(__file__).resolve().parent.parent / "data" / "vmallocinfo-linux-6.18.txt"


@pytest.fixture(scope="module")
def sample() -> list[VmallocinfoEntry]:
    return load_vmallocinfo(SAMPLE)


def _lines() -> list[str]:
    return [line for line in SAMPLE.read_text().splitlines() if line.strip()]


def _all_freed(k: Kernel) -> None:
    k.vm_unmap_aliases()
    s = k.stats()
    assert s.vmap_areas == 0 and s.vmap_lazy_nr == 0
    assert s.free_pages == s.total_pages and s.nr_vmalloc_pages == 0
    k.check()


def _frag_from_text(k: Kernel) -> dict[str, int]:
    """The fragmentation columns recomputed from ``k.vmallocinfo()`` alone (no internals)."""
    entries = parse_vmallocinfo(k.vmallocinfo())
    assert all(e.end - e.start == e.size for e in entries)       # kvalloc does not hash
    assert all(VMALLOC_START <= e.start < e.end <= VMALLOC_END for e in entries)
    holes: list[int] = []
    pos = VMALLOC_START
    for start, end in sorted((e.start, e.end) for e in entries):
        assert start >= pos
        if start > pos:
            holes.append(start - pos)
        pos = end
    return {"free_areas": len(holes) + (pos < VMALLOC_END), "largest_hole_bytes": max(holes, default=0),
            "va_span_bytes": pos - VMALLOC_START,
            "lazy_va_bytes": sum(e.size for e in entries if e.kind == "unpurged"),
            "purges": k.stats().nr_purges}


# --------------------------------------------------------------------------- parsing


def test_sample_counts_match_a_plain_text_count(sample: list[VmallocinfoEntry]) -> None:
    lines = _lines()
    unpurged = [line for line in lines if line.endswith(" unpurged vm_area")]
    ioremap = [line for line in lines if re.search(r" ioremap( |$)", line)]
    vmalloc = [line for line in lines if re.search(r" vmalloc( |$)", line)]
    vmap = [line for line in lines if line.endswith(" vmap")]
    # the issue: "3 252 areas, 3 031 of them unpurged, mostly 16 KiB thread stacks"
    assert len(lines) == len(sample) == 3252
    assert (len(unpurged), len(vmalloc), len(ioremap), len(vmap)) == (3031, 190, 29, 2)
    kinds = collections.Counter(e.kind for e in sample)
    assert kinds == {"unpurged": len(unpurged), "vmalloc": len(vmalloc), "ioremap": len(ioremap),
                     "vmap": len(vmap)}
    stacks = collections.Counter(e.size for e in sample if e.kind == "unpurged")
    assert stacks == {16 * 1024 + PAGE_SIZE: 3025, 16 * 1024: 6}     # 16 KiB + the guard page
    assert sum(e.size for e in sample) == sum(int(line.split()[1]) for line in lines) == 80629760


def test_sample_fields(sample: list[VmallocinfoEntry]) -> None:
    first, second = sample[0], sample[1]
    assert (first.start, first.end, first.size) == (0xBC321F09, 0x581E0CAF, 20480)
    assert (first.caller, first.kind, first.pages, first.phys, first.flags) == (
        "irq_init_percpu_irqstack+0xed/0x120", "vmap", None, None, ("vmap",))
    assert (second.caller, second.kind, second.phys, second.flags) == (
        "acpi_os_map_iomem+0x1bc/0x1e0", "ioremap", 0xA0000, ("ioremap",))
    vpages = [e for e in sample if "vpages" in e.flags]
    assert sorted((nn(e.pages), e.flags) for e in vpages) == [
        (n, ("vmalloc", "vpages")) for n in (513, 577, 641)]
    pcpu = next(e for e in sample if e.caller.startswith("pcpu_get_vm_areas"))
    assert (pcpu.size, pcpu.pages, pcpu.kind, pcpu.flags) == (2097152, None, "vmalloc", ("vmalloc",))
    # a vmalloc area's printed size is its pages plus the guard page
    assert all(e.size == (e.pages + 1) * PAGE_SIZE for e in sample if e.pages is not None)


def test_kernel_format_variants() -> None:
    text = ("0xffffc90000000000-0xffffc90000003000   12288 nft_set_alloc+0x1/0x2 [nf_tables] "
            "pages=2 vmalloc N0=2\n"
            "0xffffc90000004000-0xffffc90000006000    8192 pcibios+0x13/0x1c phys=cff68000 ioremap\n"
            "0xffffc90000006000-0xffffc9000000a000   16384 vmalloc_user+0x1/0x2 pages=3 vmalloc user\n"
            "0xffffc9000000a000-0xffffc9000000c000    8192 dma_common+0x1/0x2 dma-coherent\n"
            "0xffffc9000000c000-0xffffc9000000e000    8192 pages=1 vmalloc N0=1 N1=0\n"
            "0xffffc9000000e000-0xffffc90000010000    8192 ioremap\n"
            "0xffffc90000010000-0xffffc90000012000    8192 f+0x1/0x2 sparse newflag\n")
    got = [(e.caller, e.kind, e.pages, e.phys, e.flags) for e in parse_vmallocinfo(text)]
    assert got == [
        ("nft_set_alloc+0x1/0x2 [nf_tables]", "vmalloc", 2, None, ("vmalloc",)),
        ("pcibios+0x13/0x1c", "ioremap", None, 0xCFF68000, ("ioremap",)),
        ("vmalloc_user+0x1/0x2", "user", 3, None, ("vmalloc", "user")),
        ("dma_common+0x1/0x2", "other", None, None, ("dma-coherent",)),
        ("", "vmalloc", 1, None, ("vmalloc",)),
        ("", "ioremap", None, None, ("ioremap",)),
        ("f+0x1/0x2", "other", None, None, ("sparse", "newflag")),
    ]


def test_kvalloc_vmallocinfo_round_trips() -> None:
    k = Kernel(KernelConfig(cpus=1))     # one vmap node: the listing is in address order
    demo(k)
    pages = k.alloc_pages_bulk(3)
    ram = nn(k.vm_map_ram(pages[:2], 2))
    mapped = nn(k.vmap(pages[2:], VM.IOREMAP))
    entries = parse_vmallocinfo(k.vmallocinfo())
    lines = k.vmallocinfo().splitlines()
    assert len(entries) == len(lines) == 9
    for e, line in zip(entries, lines):
        assert e.end - e.start == e.size == int(line.split()[1])
        assert line.startswith(f"0x{e.start:016x}-0x{e.end:016x} ")
        area = k.find_vm_area(e.start)
        if area is not None:
            assert (area.size, area.nr_pages or None) == (e.size, e.pages)
            assert e.caller == area.caller
    # the 2-page vm_map_ram is carved from a vmap block: one 4 MiB line, 4 MiB aligned, above
    # the rest (mm/vmalloc.c: new_vmap_block())
    assert [e.kind for e in entries] == ["vmalloc"] * 4 + ["ioremap", "vmalloc", "vmalloc", "vm_map_ram",
                                                           "unpurged"]
    # the page arrays of the two vpages areas are areas of their own, with the same caller
    assert [(e.caller, e.pages) for e in entries[:4] + entries[5:7]] == [
        ("vmalloc", 2), ("my_driver_probe", 3), ("vmalloc_huge", 2), ("vmalloc", 2),
        ("vmalloc_huge", 1024), ("vmalloc", 600)]
    assert entries[5].flags == entries[6].flags == ("vmalloc", "vpages")
    assert (entries[7].start, entries[7].size) == (ram, VMAP_BLOCK_SIZE)
    assert (entries[4].start, entries[4].caller) == (mapped, "vmap")
    assert entries[8].size == 64 * 1024 + PAGE_SIZE
    k.vm_unmap_ram(ram, 2)
    k.vunmap(mapped)
    for page in pages:
        k.free_pages(page, 0)
    k.check()


def test_malformed_lines_name_their_line_number() -> None:
    good = "0x01-0x02    8192 f+0x1/0x2 pages=1 vmalloc N0=1\n"
    cases = {
        good + "\nbogus line here\n":
            "vmallocinfo line 3: bad address range 'bogus': 'bogus line here'",
        "0x01-0x02 4k f+0x1/0x2 vmalloc":
            "vmallocinfo line 1: bad size '4k': '0x01-0x02 4k f+0x1/0x2 vmalloc'",
        good + "0x01-0x02":
            "vmallocinfo line 2: expected 'START-END SIZE ...': '0x01-0x02'",
        good + good + "0x01-0x02 8192 f+0x1/0x2 vmalloc phys=0x1000":
            "vmallocinfo line 3: unexpected 'phys=0x1000': '0x01-0x02 8192 f+0x1/0x2 vmalloc phys=0x1000'",
        "0x01-0x02 8192 f+0x1/0x2 phys=0xzz ioremap":
            "vmallocinfo line 1: bad physical address 'phys=0xzz': "
            "'0x01-0x02 8192 f+0x1/0x2 phys=0xzz ioremap'",
        "0x01-0x02 8192 f+0x1/0x2 vmap vmap":
            "vmallocinfo line 1: repeated flag 'vmap': '0x01-0x02 8192 f+0x1/0x2 vmap vmap'",
    }
    for text, message in cases.items():
        with pytest.raises(ValueError) as info:
            parse_vmallocinfo(text)
        assert str(info.value) == message


def test_argument_validation(tmp_path: pathlib.Path) -> None:
    k = Kernel()
    with pytest.raises(TypeError, match="^text must be str, not bytes$"):
        parse_vmallocinfo(b"0x1-0x2 8192 vmalloc")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="^path must be str or os.PathLike, not int$"):
        load_vmallocinfo(3)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="^k must be Kernel, not object$"):
        populate(object(), [])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="^entries must be an iterable of VmallocinfoEntry, not str$"):
        populate(k, "0x1-0x2 8192 vmalloc")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"^entries\[0\] must be VmallocinfoEntry, not int$"):
        populate(k, [1])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="^keep_order must be bool, not int$"):
        populate(k, [], keep_order=1)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="^pop must be Population, not list$"):
        release(k, [])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="^pop was populated on another Kernel$"):
        release(Kernel(), populate(k, []))
    with pytest.raises(TypeError, match="^k must be Kernel, not NoneType$"):
        fragmentation(None)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="^case must be one of fix_size_alloc_test, full_fit_alloc_test, "
                                         "long_busy_list_alloc_test, random_size_alloc_test, "
                                         "fix_align_alloc_test, random_size_align_alloc_test; "
                                         "got 'pcpu_alloc_test'$"):
        Churn(k, "pcpu_alloc_test", 0)
    with pytest.raises(TypeError, match="^case must be str, not int$"):
        Churn(k, 1, 0)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="^seed must be int, not str$"):
        Churn(k, "fix_size_alloc_test", "1")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"^max_live must lie in \[1, 2\*\*20\), got 0$"):
        Churn(k, "fix_size_alloc_test", 1, max_live=0)
    with pytest.raises(ValueError, match="^size must lie in"):
        VmallocinfoEntry(0, 0, -1, "", "vmalloc", None, None, ())
    with pytest.raises(TypeError, match="^flags must be tuple, not list$"):
        VmallocinfoEntry(0, 0, 8192, "", "vmalloc", None, None, ["vmalloc"])  # type: ignore[arg-type]
    missing = tmp_path / "nothing"
    with pytest.raises(FileNotFoundError):
        load_vmallocinfo(missing)


# --------------------------------------------------------------------------- populate


def test_populate_the_sample_and_release(sample: list[VmallocinfoEntry]) -> None:
    k = Kernel()
    pop = populate(k, sample)
    k.check()
    assert pop.created == {"vmalloc": 190, "vmap": 2, "ioremap": 29, "vm_map_ram": 0, "unpurged": 3031,
                           "user": 0, "other": 0}
    assert sum(pop.skipped.values()) == 0 and pop.implied == 3 and pop.purges == 0
    assert pop.bytes_created == 80629760 and pop.live == 221 - 3
    s = k.stats()
    assert s.vmap_areas == 221 and len(k.machine.kva.lazy) == 3031
    assert s.vmap_lazy_nr == sum(e.size for e in sample if e.kind == "unpurged") // PAGE_SIZE == 15149
    assert s.vmap_lazy_nr < s.lazy_max_pages == 16384
    # what the kernel prints now has the sizes and kinds of the machine's file
    back = parse_vmallocinfo(k.vmallocinfo())
    assert len(back) == len(sample)

    def key(e: VmallocinfoEntry) -> tuple[int, str]:
        return e.size, e.kind
    assert collections.Counter(map(key, back)) == collections.Counter(map(key, sample))
    vmallocs = [e for e in sample if e.kind == "vmalloc"]
    assert (collections.Counter((e.size, e.caller) for e in back if e.kind == "vmalloc")
            == collections.Counter((e.size, e.caller) for e in vmallocs))
    assert (collections.Counter(e.pages for e in back if e.kind == "vmalloc")
            - collections.Counter(e.pages for e in vmallocs)) == {511: 1}   # the pcpu area
    assert fragmentation(k) == _frag_from_text(k) == {
        "free_areas": 1, "largest_hole_bytes": 0, "va_span_bytes": 80629760,
        "lazy_va_bytes": 15149 * PAGE_SIZE, "purges": 0}
    release(k, pop)
    k.check()
    assert pop.live == 0 and k.stats().vmap_areas == 0
    release(k, pop)                                          # a second release is a no-op
    _all_freed(k)


def test_unpurged_areas_and_the_lazy_threshold(sample: list[VmallocinfoEntry]) -> None:
    limit = KernelConfig(cpus=1).lazy_max                        # fls(1) * 8192 = 8192 pages
    lazy = left = purges = 0
    for e in sample:                                             # the kernel's rule, by hand
        if e.kind == "unpurged":
            lazy, left = lazy + e.size // PAGE_SIZE, left + 1
            if lazy > limit:
                lazy = left = 0
                purges += 1
    assert (purges, left) == (1, 1391)
    k = Kernel(KernelConfig(cpus=1))
    pop = populate(k, sample)
    assert pop.purges == purges and len(k.machine.kva.lazy) == left
    assert k.stats().vmap_lazy_nr == lazy
    assert pop.created["unpurged"] == 3031
    k.check()
    release(k, pop)
    _all_freed(k)


def test_keep_order_false_scatters_the_lazy_areas(sample: list[VmallocinfoEntry]) -> None:
    packed, spread = Kernel(), Kernel()
    pops = populate(packed, sample), populate(spread, sample, keep_order=False)
    assert pops[0] == pops[1]
    for k in (packed, spread):
        k.vm_unmap_aliases()
    assert fragmentation(packed) == _frag_from_text(packed) == {
        "free_areas": 1, "largest_hole_bytes": 0, "va_span_bytes": 80629760 - 15149 * PAGE_SIZE,
        "lazy_va_bytes": 0, "purges": 1}
    f = fragmentation(spread)
    assert f == _frag_from_text(spread)
    assert f["free_areas"] > 200 and 0 < f["largest_hole_bytes"] < 1 << 20
    for k, pop in zip((packed, spread), pops):
        k.check()
        release(k, pop)
        _all_freed(k)


def test_refused_entries_are_skipped() -> None:
    k = Kernel(KernelConfig(ram=4 << 20))
    text = ("0x1-0x2 8392704 big+0x1/0x2 pages=2048 vmalloc\n"
            "0x3-0x4 8392704 big+0x1/0x2 vmap\n"
            "0x5-0x6 8392704 vm_map_ram\n"
            "0x7-0x8    6000 odd+0x1/0x2 vmalloc\n"
            "0x9-0xa    4096 tiny+0x1/0x2 vmalloc\n"
            "0xb-0xc    8192 ok+0x1/0x2 pages=1 vmalloc\n")
    with kernel_warnings(0):
        pop = populate(k, parse_vmallocinfo(text))
    assert pop.skipped == {"vmalloc": 3, "vmap": 1, "ioremap": 0, "vm_map_ram": 1, "unpurged": 0,
                           "user": 0, "other": 0}
    assert pop.created["vmalloc"] == 1 and pop.live == 1 and pop.bytes_created == 8192
    k.check()
    release(k, pop)
    _all_freed(k)


def test_every_kind_is_created_and_released() -> None:
    k = Kernel()
    text = ("0x1-0x2   16384 vmalloc_user+0x1/0x2 pages=3 vmalloc user\n"
            "0x3-0x4    8192 dma_common+0x1/0x2 dma-coherent\n"
            "0x5-0x6 4194304 vm_map_ram\n"
            "0x7-0x8   12288 acpi_os_map_iomem+0x1bc/0x1e0 phys=0x9f000 ioremap\n"
            "0x9-0xa 2105344 htab+0x2e4/0x5a0 pages=513 vmalloc vpages N0=513\n"
            "0xb-0xc   12288 other+0x1/0x2 pages=2 vmalloc N0=2\n"
            "0xd-0xe   12288 htab+0x2e4/0x5a0 pages=2 vmalloc N0=2\n")
    entries = parse_vmallocinfo(text)
    pop = populate(k, entries)
    assert pop.implied == 1 and sum(pop.skipped.values()) == 0
    assert sum(pop.created.values()) == len(entries)
    back = parse_vmallocinfo(k.vmallocinfo())
    assert sorted((e.size, e.kind) for e in back) == sorted((e.size, e.kind) for e in entries)
    assert [e.flags for e in back if e.kind in ("user", "other")] == [("vmalloc", "user"),
                                                                      ("dma-coherent",)]
    # the 513-page area's page array is the last line's area, made by the kernel with it
    assert [(e.caller, e.size) for e in back if e.caller == "htab+0x2e4/0x5a0"] == [
        ("htab+0x2e4/0x5a0", 2105344), ("htab+0x2e4/0x5a0", 12288)]
    k.check()
    release(k, pop)
    _all_freed(k)


def test_ram_needed_is_enough(sample: list[VmallocinfoEntry]) -> None:
    ram = ram_needed(sample)
    assert ram == 24 << 20
    k = Kernel(KernelConfig(ram=ram))
    pop = populate(k, sample)
    assert sum(pop.skipped.values()) == 0
    used = (k.stats().total_pages - k.stats().free_pages) * PAGE_SIZE
    assert used == 4331 * PAGE_SIZE and used <= ram - (4 << 20)       # the headroom is left
    release(k, pop)
    _all_freed(k)


def test_population_defaults() -> None:
    pop = Population()
    assert tuple(pop.created) == tuple(pop.skipped) == KINDS
    assert dataclasses.asdict(pop)["implied"] == 0


# --------------------------------------------------------------------------- churn


def _churned(case: str, seed: int, steps: int, entries: list[VmallocinfoEntry]) -> tuple[Kernel, Churn]:
    k = Kernel()
    populate(k, entries, keep_order=False)
    churn = Churn(k, case, seed)
    for _ in range(steps):
        churn.step()
    return k, churn


def test_churn_is_deterministic_by_seed(sample: list[VmallocinfoEntry]) -> None:
    (a, _), (b, _), (c, _) = (_churned("random_size_alloc_test", seed, 300, sample) for seed in (7, 7, 8))
    assert a.vmallocinfo() == b.vmallocinfo()
    assert fragmentation(a) == fragmentation(b)
    assert a.vmallocinfo() != c.vmallocinfo()
    fa, fc = fragmentation(a), fragmentation(c)
    assert fa["purges"] == fc["purges"] == 1                 # the sample's lazy areas went
    assert (fa["free_areas"], fa["va_span_bytes"]) != (fc["free_areas"], fc["va_span_bytes"])
    for k in (a, c):
        assert fragmentation(k) == _frag_from_text(k)
        k.check()


@pytest.mark.parametrize("case", CHURN_CASES)
def test_churn_cases(case: str) -> None:
    k = Kernel()
    churn = Churn(k, case, seed=3, max_live=16)
    ops = [churn.step() for _ in range(400)]
    k.check()
    assert churn.steps == 400 and churn.failures == 0 and 0 < churn.live <= 16 + 2
    sizes = {op.size // PAGE_SIZE for op in ops}
    for op in ops:
        assert op.addr is not None and op.addr % max(op.align, PAGE_SIZE) == 0
    live: set[int] = set()
    for op in ops:                                            # every vfree frees a live area
        if op.op == "vmalloc":
            live.add(nn(op.addr))
        else:
            live.remove(nn(op.addr))
    assert len(live) == churn.live
    areas = [e for e in parse_vmallocinfo(k.vmallocinfo()) if e.kind == "vmalloc"]
    assert len(areas) == churn.live and {e.caller for e in areas} == {case}
    if case == "random_size_alloc_test":
        assert min(sizes) >= 1 and max(sizes) <= 100 and len(sizes) > 50
    elif case == "random_size_align_alloc_test":
        assert sizes <= set(range(1, 11)) and len({op.align for op in ops}) > 10
    elif case == "fix_align_alloc_test":
        assert sizes == {5} and {op.align for op in ops} == {32 << 10}
    elif case == "long_busy_list_alloc_test":
        assert [(op.op, op.size // PAGE_SIZE) for op in ops[16:20]] == [
            ("vmalloc", 100), ("vmalloc", 1), ("vfree", 100), ("vfree", 1)]
        assert all(op.op == "vmalloc" and op.size == PAGE_SIZE for op in ops[:16])
    elif case == "full_fit_alloc_test":
        assert sizes == {1}
        assert [op.op for op in ops[:24]] == ["vmalloc"] * 16 + ["vfree"] * 8
        junk = [op.addr for op in ops[16:24]]
        assert junk == [op.addr for op in ops[1:16:2]]         # the second of each pair
        assert [op.op for op in ops[24:28]] == ["vmalloc", "vfree", "vmalloc", "vfree"]
    else:
        assert sizes == {1}
    assert fragmentation(k) == _frag_from_text(k)
    churn.release()
    assert churn.live == 0
    _all_freed(k)


def test_churn_with_kasan_uses_the_kasan_thread_align() -> None:
    k = Kernel(KernelConfig(kasan="generic"))
    churn = Churn(k, "fix_align_alloc_test", seed=0, max_live=4)
    assert {churn.step().align for _ in range(8)} == {64 << 10}
    churn.release()
    _all_freed(k)
    assert k.kasan_reports == []


def test_fragmentation_columns() -> None:
    k = Kernel()
    f = fragmentation(k)
    assert tuple(f) == FRAGMENTATION_COLUMNS
    assert f == {"free_areas": 1, "largest_hole_bytes": 0, "va_span_bytes": 0, "lazy_va_bytes": 0,
                 "purges": 0}
    ptrs = [nn(k.vmalloc(PAGE_SIZE)) for _ in range(6)]        # 6 areas of 2 pages
    k.vfree(ptrs[1])
    k.vfree(ptrs[3])
    k.vfree(ptrs[4])
    assert fragmentation(k) == _frag_from_text(k) == {
        "free_areas": 1, "largest_hole_bytes": 0, "va_span_bytes": 12 * PAGE_SIZE,
        "lazy_va_bytes": 6 * PAGE_SIZE, "purges": 0}
    k.vm_unmap_aliases()
    assert fragmentation(k) == _frag_from_text(k) == {
        "free_areas": 3, "largest_hole_bytes": 4 * PAGE_SIZE, "va_span_bytes": 12 * PAGE_SIZE,
        "lazy_va_bytes": 0, "purges": 1}
    k.vfree(ptrs[5])
    k.vm_unmap_aliases()                                       # the top area goes: the span shrinks
    assert fragmentation(k) == _frag_from_text(k) == {
        "free_areas": 2, "largest_hole_bytes": 2 * PAGE_SIZE, "va_span_bytes": 6 * PAGE_SIZE,
        "lazy_va_bytes": 0, "purges": 2}
    start = VMALLOC_END + 1 + (1 << 30)
    outside = nn(k.vmalloc_node_range(PAGE_SIZE, 1, start, start + (1 << 30), GFP.KERNEL, 0))
    assert fragmentation(k)["va_span_bytes"] == 6 * PAGE_SIZE          # areas outside do not count
    k.vfree(outside)
    for p in (ptrs[0], ptrs[2]):
        k.vfree(p)
    _all_freed(k)
