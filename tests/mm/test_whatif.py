"""What-if vrealloc profiles (kvalloc.vrealloc_profile, kvalloc.WHATIFS), written from their spec.

Each what-if is latest (e64f42036ef4) with one change to ``mm/vmalloc.c:
vrealloc_node_align_noprof()``, whose latest code grows in place only while
``size <= nr_pages * PAGE_SIZE``, frees the tail pages past ``PAGE_ALIGN(size)`` on a shrink, and
otherwise allocates a new small-page area, copies ``min(size, old)`` bytes and vfrees the old one:

- ``grow-into-va`` (``grow_pages="extend_va"``): map the missing pages in the area's own range,
  else extend the area over the free range after its guard page;
- ``refill-tail`` (``grow_pages="within_va"``): only the within-range part;
- ``vremap`` (``move="remap"``): a move maps the old pages at the new area's start, no copy;
- ``keep-huge`` (``move_keeps_huge=True``): the move of a huge-mapped area asks for huge pages.

Where a what-if "falls back to latest", the test runs the same script on a latest kernel and
compares (the *twin* helpers). ``check()`` runs after every step.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Callable
from typing import Any, ClassVar, Literal

import pytest
from hypothesis import HealthCheck, settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

import kvalloc
from kvalloc import (
    GFP,
    PAGE_SIZE,
    PMD_SIZE,
    VM,
    VMALLOC_END,
    VMALLOC_START,
    WHATIFS,
    Kernel,
    KernelConfig,
    PageFault,
    VmArea,
    VreallocProfile,
    vrealloc_profile,
)

from ..helpers import dm, nonzero_pattern as pattern, vrealloc_events as events

pytestmark = [pytest.mark.spec, pytest.mark.filterwarnings("ignore::kvalloc.KernelWarning")]

KMode = Literal["off", "generic", "sw_tags"]

PAGE = PAGE_SIZE
KIB = 1 << 10
MIB = 1 << 20
VS = VMALLOC_START
LATEST = "e64f42036ef4"
HIST = (
    "3ddc2fefe6f3", "d699440f58ce", "a0309faf1cb0", "f7a35a3c36d1", "70d1eb031a68",
    "4c5d3365882d", "007f5da43b3d", "9b47d4eea3f7", "e64f42036ef4",
)
ALIASES = {"latest": LATEST, "v6.12": HIST[0], "v6.13": HIST[1], "v6.15": HIST[4],
           "v6.17": HIST[5], "v6.19": HIST[6]}
WHATIF_FIELDS = {
    "grow-into-va": {"grow_pages": "extend_va", "move": "copy", "move_keeps_huge": False},
    "refill-tail": {"grow_pages": "within_va", "move": "copy", "move_keeps_huge": False},
    "vremap": {"grow_pages": "none", "move": "remap", "move_keeps_huge": False},
    "keep-huge": {"grow_pages": "none", "move": "copy", "move_keeps_huge": True},
}
NAMES = tuple(WHATIF_FIELDS)
#: The behaviour fields of the kernel profiles (kvalloc/mm/vrealloc.py), which a what-if keeps.
KERNEL_FIELDS = ("label", "old_is_requested", "checks_mismatch", "align_and_node",
                 "shrink_sets_requested", "shrink_zero", "shrink_kasan", "grow_in_place",
                 "grow_limit_is_nr_pages", "copy_min", "shrink_frees_pages")
NEW_COUNTERS = ("vrealloc_extended", "vrealloc_refilled", "vrealloc_remapped",
                "vrealloc_pages_mapped")
#: The counters every profile had before the what-ifs (compared between twin kernels).
OLD_STATS = ("total_pages", "free_pages", "nr_vmalloc_pages", "vmap_areas", "free_vmap_areas",
             "vmap_pooled", "pending_work", "vmap_lazy_nr", "nr_purges", "slab_pages",
             "vrealloc_calls", "vrealloc_shrink", "vrealloc_grow_in_place", "vrealloc_moved",
             "vrealloc_fresh", "vrealloc_fallthrough", "vrealloc_bytes_copied",
             "vrealloc_pages_freed", "kasan_reports")


# -- helpers ---------------------------------------------------------------------------------------


def mk(profile: str | VreallocProfile = "latest", kasan: KMode = "off", *, cpus: int = 2,
       init_on_alloc: bool = False, huge_vmalloc: bool = True, ram: int = 4 << 30,
       seed: int = 0) -> Kernel:
    k = Kernel(KernelConfig(vrealloc=profile, kasan=kasan, cpus=cpus, init_on_alloc=init_on_alloc,
                            huge_vmalloc=huge_vmalloc, ram=ram, seed=seed))
    k.check()
    return k


def alloc(k: Kernel, size: int, gfp: int = GFP.KERNEL) -> int:
    p = k.vmalloc(size, gfp)
    k.check()
    assert p is not None
    return p


def alloc_huge(k: Kernel, size: int, gfp: int = GFP.KERNEL) -> int:
    p = k.vmalloc_huge(size, gfp)
    k.check()
    assert p is not None
    return p


def vr(k: Kernel, p: int, size: int, gfp: int = GFP.KERNEL) -> int:
    """A vrealloc that must succeed; ``check()`` after it."""
    q = k.vrealloc(p, size, gfp)
    k.check()
    assert q is not None
    return q


def kvr(k: Kernel, p: int, size: int, gfp: int = GFP.KERNEL) -> int:
    q = k.kvrealloc(p, size, gfp)
    k.check()
    assert q is not None
    return q


def area(k: Kernel, p: int) -> VmArea:
    a = k.find_vm_area(p)
    assert a is not None
    return a


def pfns(k: Kernel, p: int) -> list[int]:
    return [pg.pfn for pg in area(k, p).pages]


def counters(k: Kernel) -> dict[str, int]:
    return dict(dataclasses.asdict(k.stats()))


def vdelta(k: Kernel, before: dict[str, int]) -> dict[str, int]:
    """The vrealloc_* counters that changed since ``before``, by how much."""
    now = counters(k)
    return {name: now[name] - before.get(name, 0) for name in now
            if name.startswith("vrealloc_") and now[name] != before.get(name, 0)}


def old_stats(k: Kernel) -> dict[str, int]:
    s = counters(k)
    return {name: s[name] for name in OLD_STATS}


def leak_state(k: Kernel) -> tuple[int, int, int, int]:
    s = k.stats()
    return (s.free_pages, s.vmap_areas, s.nr_vmalloc_pages, s.slab_pages)


def memory(k: Kernel) -> tuple[int, int, int]:
    """What a fresh kernel and one that freed everything must agree on."""
    s = k.stats()
    return (s.free_pages, s.vmap_areas, s.nr_vmalloc_pages)


def vinfo_line(addr: int, size: int, caller: str, nr: int) -> str:
    """One /proc/vmallocinfo line of a small-page vmalloc area with a kmalloc'd page array."""
    return f"0x{addr:016x}-0x{addr + size:016x} {size:7d} {caller} pages={nr} vmalloc N0={nr}"


def busy_lines(k: Kernel) -> list[str]:
    """The /proc/vmallocinfo lines of the busy areas (lazily freed ones left out)."""
    return [x for x in k.vmallocinfo().splitlines() if not x.endswith("unpurged vm_area")]


def page_align(n: int) -> int:
    return -(-n // PAGE) * PAGE


def nr_of(size: int) -> int:
    return page_align(size) // PAGE


def untag(a: int) -> int:
    return (a & ((1 << 56) - 1)) | (0xFF << 56)


def outcomes(k: Kernel) -> list[str | int]:
    return [e["outcome"] for e in events(k)]


def twin(script: Callable[[Kernel], list[object]], profile: str | VreallocProfile,
         **cfg: Any) -> list[object]:
    """Run ``script`` on the what-if and on latest; they must observe the same (and the
    vmallocinfo and the counters latest has must agree too). Returns the observations."""
    a, b = mk(profile, **cfg), mk("latest", **cfg)
    got, want = script(a), script(b)
    assert got == want
    assert a.vmallocinfo() == b.vmallocinfo()
    assert old_stats(a) == old_stats(b)
    for name in NEW_COUNTERS:
        assert counters(a)[name] == 0, name
    return got


@functools.cache
def latest_reports_at(kasan: KMode, size: int) -> bool:
    """Does latest's KASAN report a 1-byte read at ``p + size`` of a live area of ``size``
    bytes (its shadow covers exactly ``requested_size``, kasan_vrealloc)?"""
    assert size % PAGE, "p + size must be mapped"
    k = mk("latest", kasan)
    p = k.vmalloc(size)
    assert p is not None
    k.read(p + size, 1)
    return bool(k.kasan_reports)


# -- the profile API -------------------------------------------------------------------------------


def test_whatifs_are_the_four_builtins_on_latest() -> None:
    assert isinstance(WHATIFS, tuple) and len(WHATIFS) == 4
    assert {w.name for w in WHATIFS} == set(NAMES)
    latest = mk("latest").machine.vrealloc.profile
    assert latest.kind == "kernel"
    for w in WHATIFS:
        assert isinstance(w, VreallocProfile)
        assert w.kind == "what-if" and w.base == LATEST
        for field, value in WHATIF_FIELDS[w.name].items():
            assert getattr(w, field) == value, (w.name, field)
        for field in KERNEL_FIELDS:
            assert getattr(w, field) == getattr(latest, field), (w.name, field)


@pytest.mark.parametrize("profile", HIST + tuple(ALIASES))
def test_kernel_profiles_are_kind_kernel_with_the_new_fields_off(profile: str) -> None:
    prof = mk(profile).machine.vrealloc.profile
    assert prof.kind == "kernel"
    assert (prof.grow_pages, prof.move, prof.move_keeps_huge) == ("none", "copy", False)


@pytest.mark.parametrize("name", NAMES)
def test_whatif_selectable_by_name_and_by_object(name: str) -> None:
    obj = next(w for w in WHATIFS if w.name == name)
    for spec in (name, obj):
        prof = mk(spec).machine.vrealloc.profile
        assert prof == obj and prof.kind == "what-if" and prof.name == name


def test_vrealloc_profile_defaults() -> None:
    w = vrealloc_profile(name="my-idea")
    assert isinstance(w, kvalloc.VreallocProfile)
    assert (w.kind, w.name, w.base, w.description) == ("what-if", "my-idea", LATEST, "")
    assert (w.grow_pages, w.move, w.move_keeps_huge) == ("none", "copy", False)
    latest = mk("latest").machine.vrealloc.profile
    for field in KERNEL_FIELDS:
        assert getattr(w, field) == getattr(latest, field), field


def test_vrealloc_profile_changes_and_description() -> None:
    w = vrealloc_profile("latest", name="all-three", description="every what-if at once",
                         grow_pages="extend_va", move="remap", move_keeps_huge=True)
    assert (w.kind, w.name, w.base, w.description) == ("what-if", "all-three", LATEST,
                                                        "every what-if at once")
    assert (w.grow_pages, w.move, w.move_keeps_huge) == ("extend_va", "remap", True)
    assert mk(w).machine.vrealloc.profile == w


@pytest.mark.parametrize(("base", "commit"), [(LATEST, LATEST), ("latest", LATEST),
                                              ("v6.15", HIST[4]), (HIST[7], HIST[7])])
def test_vrealloc_profile_base_is_the_commit_id(base: str, commit: str) -> None:
    w = vrealloc_profile(base, name="on-" + base.replace(".", "-"))
    assert w.base == commit and w.kind == "what-if"
    want = mk(commit).machine.vrealloc.profile
    for field in KERNEL_FIELDS:
        assert getattr(w, field) == getattr(want, field), field


def test_vrealloc_profile_unknown_field_is_type_error() -> None:
    with pytest.raises(TypeError, match="bogus_field"):
        vrealloc_profile(name="x", bogus_field=1)
    with pytest.raises(TypeError, match="grow"):
        vrealloc_profile(name="x", grow="extend_va")


@pytest.mark.parametrize(("field", "value"), [("grow_pages", "sideways"), ("grow_pages", ""),
                                              ("move", "teleport"), ("move", "Remap")])
def test_vrealloc_profile_bad_value_is_value_error(field: str, value: str) -> None:
    with pytest.raises(ValueError, match=field):
        vrealloc_profile(name="x", **{field: value})


@pytest.mark.parametrize(("field", "value"), [("move_keeps_huge", "yes"), ("move_keeps_huge", 1),
                                              ("grow_pages", 3), ("move", None)])
def test_vrealloc_profile_wrong_type_is_rejected(field: str, value: object) -> None:
    # spec: "bad value -> ValueError"; the project raises TypeError for a wrong type, so either
    changes: dict[str, Any] = {field: value}
    with pytest.raises((TypeError, ValueError), match=field):
        vrealloc_profile(name="x", **changes)


@pytest.mark.parametrize("name", HIST + tuple(ALIASES))
def test_vrealloc_profile_name_of_a_kernel_profile_is_value_error(name: str) -> None:
    with pytest.raises(ValueError, match=re.escape(name)):
        vrealloc_profile(name=name, move="remap")


def test_vrealloc_profile_unknown_base_is_value_error() -> None:
    with pytest.raises(ValueError, match="no-such-commit"):
        vrealloc_profile("no-such-commit", name="x")


def test_kernel_config_rejects_unknown_whatif_name() -> None:
    with pytest.raises(ValueError, match="grow-into-nowhere"):
        KernelConfig(vrealloc="grow-into-nowhere")


def test_new_counters_stay_zero_under_latest() -> None:
    k = mk("latest")
    p = alloc(k, 256 * KIB)
    p = vr(k, p, 16 * KIB)
    p = vr(k, p, 256 * KIB)
    p = vr(k, p, 300 * KIB)
    h = alloc_huge(k, 4 * MIB)
    kvr(k, h, 8 * MIB)
    s = counters(k)
    assert s["vrealloc_moved"] == 3
    assert {name: s[name] for name in NEW_COUNTERS} == dict.fromkeys(NEW_COUNTERS, 0)


# -- grow-into-va ----------------------------------------------------------------------------------


def test_grow_into_va_extends_over_the_free_range_after_the_guard() -> None:
    """mm/vmalloc.c: vrealloc_node_align_noprof(): latest moves once size > nr_pages * 4096
    ("TODO: Grow the vm_area, i.e. allocate and map additional pages"); grow-into-va extends
    the area over the free range after it, the guard page moving to the new end."""
    k = mk("grow-into-va")
    p = alloc(k, PAGE)
    assert p == VS
    data = pattern(PAGE)
    k.write(p, data)
    a0 = area(k, p)
    k.trace.enable("vrealloc")
    s0 = counters(k)
    assert vr(k, p, 2 * PAGE) == p
    a = area(k, p)
    assert (a.addr, a.size, a.nr_pages, a.requested_size, a.page_order) == (p, 3 * PAGE, 2,
                                                                             2 * PAGE, 0)
    assert a.caller == "vmalloc" and a.pages[0] == a0.pages[0]
    assert vdelta(k, s0) == {"vrealloc_calls": 1, "vrealloc_grow_in_place": 1,
                             "vrealloc_extended": 1, "vrealloc_pages_mapped": 1}
    s1 = counters(k)
    assert s1["nr_vmalloc_pages"] == s0["nr_vmalloc_pages"] + 1
    assert s1["vmap_areas"] == s0["vmap_areas"] and s1["vmap_lazy_nr"] == s0["vmap_lazy_nr"]
    assert events(k) == [{"p": p, "old_size": PAGE, "new_size": 2 * PAGE, "outcome": "extended"}]
    assert k.vmallocinfo().splitlines() == [vinfo_line(p, 3 * PAGE, "vmalloc", 2)]
    assert k.read(p, PAGE) == data
    assert k.vmalloc_to_page(p + PAGE) == a.pages[1]
    assert k.vmalloc_to_page(p + 2 * PAGE) is None          # the new guard page
    k.write(p + PAGE, b"second page")
    # an unaligned grow over two more pages
    s1 = counters(k)
    assert vr(k, p, 4 * PAGE - 100) == p
    a1, a = a, area(k, p)
    assert (a.size, a.nr_pages, a.requested_size) == (5 * PAGE, 4, 4 * PAGE - 100)
    assert a.pages[:2] == a1.pages
    assert vdelta(k, s1) == {"vrealloc_calls": 1, "vrealloc_grow_in_place": 1,
                             "vrealloc_extended": 1, "vrealloc_pages_mapped": 2}
    assert events(k)[-1] == {"p": p, "old_size": 2 * PAGE, "new_size": 4 * PAGE - 100,
                             "outcome": "extended"}
    assert k.read(p, PAGE) == data and k.read(p + PAGE, 11) == b"second page"
    k.write(p + 4 * PAGE - 101, b"z")
    # the VA tree knows: the next area goes after the moved guard page
    assert alloc(k, PAGE) == p + 5 * PAGE
    assert k.stats().vrealloc_bytes_copied == 0


def test_grow_into_va_page_by_page_to_4_mib_never_moves() -> None:
    """mm/vmalloc.c: vrealloc_node_align_noprof(): with no neighbour every grow of latest
    moves and copies; grow-into-va returns p every time, 0 bytes copied (also past 2 MiB,
    where the page array no longer fits a page)."""
    k = mk("grow-into-va")
    p = alloc(k, PAGE)
    k.write(p, b"first")
    sizes = list(range(2 * PAGE, MIB + 1, PAGE)) + list(range(MIB + 64 * KIB, 4 * MIB + 1, 64 * KIB))
    s0 = counters(k)
    for size in sizes:
        assert vr(k, p, size) == p, size
        a = area(k, p)
        assert (a.nr_pages, a.size, a.requested_size) == (size // PAGE, size + PAGE, size)
        k.write(p + size - 8, size.to_bytes(8, "little"))
    assert vdelta(k, s0) == {"vrealloc_calls": len(sizes), "vrealloc_grow_in_place": len(sizes),
                             "vrealloc_extended": len(sizes),
                             "vrealloc_pages_mapped": 4 * MIB // PAGE - 1}
    assert k.read(p, 5) == b"first"
    for size in sizes:
        if size != sizes[-1]:
            assert k.read(p + size - 8, 8) == size.to_bytes(8, "little"), size


def test_grow_into_va_doubling_to_16_mib_never_moves() -> None:
    """mm/vmalloc.c: vrealloc_node_align_noprof(): a doubling vector (a Vec) under latest
    moves on every grow; under grow-into-va never."""
    k = mk("grow-into-va")
    p = alloc(k, PAGE)
    size = PAGE
    k.write(p, b"\x01" * 8)
    while size < 16 * MIB:
        size *= 2
        assert vr(k, p, size) == p, size
        a = area(k, p)
        assert (a.nr_pages, a.size) == (size // PAGE, size + PAGE)
        k.write(p + size // 2, size.to_bytes(8, "little"))
    s = k.stats()
    assert (s.vrealloc_moved, s.vrealloc_bytes_copied, s.vrealloc_extended) == (0, 0, 12)
    assert k.read(p, 8) == b"\x01" * 8
    n = 2 * PAGE
    while n <= 16 * MIB:
        assert k.read(p + n // 2, 8) == n.to_bytes(8, "little")
        n *= 2


def test_grow_into_va_uses_exactly_the_free_gap() -> None:
    """mm/vmalloc.c: vrealloc_node_align_noprof(): the extension needs
    [va_end, va_start + PAGE_ALIGN(size) + guard) to be free; one page more and it moves as
    latest does."""
    k = mk("grow-into-va")
    p = alloc(k, PAGE)                                       # VA [VS, VS + 2 pages)
    q = k.vmalloc_node_range(PAGE, 1, VS + 8 * PAGE, VMALLOC_END, GFP.KERNEL, 0)
    k.check()
    assert q == VS + 8 * PAGE
    k.write(p, b"keep")
    s0 = counters(k)
    assert vr(k, p, 7 * PAGE) == p                          # VA [VS, VS + 8 pages): fits
    assert area(k, p).size == 8 * PAGE
    assert vdelta(k, s0) == {"vrealloc_calls": 1, "vrealloc_grow_in_place": 1,
                             "vrealloc_extended": 1, "vrealloc_pages_mapped": 6}
    s1 = counters(k)
    r = vr(k, p, 7 * PAGE + 1)                              # one page more: q is in the way
    assert r != p and k.find_vm_area(p) is None
    assert r == q + 2 * PAGE                                # lowest fit after q, as latest
    assert vdelta(k, s1) == {"vrealloc_calls": 1, "vrealloc_moved": 1,
                             "vrealloc_bytes_copied": 7 * PAGE}
    assert k.read(r, 4) == b"keep"


def test_grow_into_va_at_the_end_of_the_vmalloc_range_moves_as_latest() -> None:
    """mm/vmalloc.c: vrealloc_node_align_noprof(): nothing is free past VMALLOC_END, so an
    area ending there cannot be extended and moves as latest."""
    def script(k: Kernel) -> list[object]:
        top = VMALLOC_END + 1                   # VMALLOC_END is the last byte
        p = k.vmalloc_node_range(PAGE, 1, top - 2 * PAGE, top, GFP.KERNEL, 0)
        assert p == top - 2 * PAGE
        k.check()
        k.write(p, b"end")
        r = vr(k, p, 2 * PAGE)
        return [r, k.read(r, 3)]

    twin(script, "grow-into-va")


@pytest.mark.parametrize("neighbour", ["busy", "lazy", "pooled"])
def test_grow_into_va_blocked_by_a_neighbour_moves_as_latest(neighbour: str) -> None:
    """mm/vmalloc.c: vrealloc_node_align_noprof(): only a range in the free tree may be
    taken; a busy area, a lazily freed one (purge_vmap_area_lazy() has not run) or one in a
    vmap node's pool (purge_vmap_node()) is not free, and the grow moves as latest."""
    data = pattern(PAGE)

    def script(k: Kernel) -> list[object]:
        p = alloc(k, PAGE)
        k.write(p, data)
        q = alloc(k, PAGE)
        assert q == p + 2 * PAGE
        if neighbour != "busy":
            k.vfree(q)
            k.check()
        if neighbour == "pooled":
            k.vm_unmap_aliases()
            k.check()
            assert k.stats().vmap_pooled == 1 and k.stats().vmap_lazy_nr == 0
        k.trace.enable("vrealloc")
        s0 = counters(k)
        r = vr(k, p, 2 * PAGE)
        assert r != p and k.find_vm_area(p) is None
        assert k.read(r, PAGE) == data
        assert vdelta(k, s0) == {"vrealloc_calls": 1, "vrealloc_moved": 1,
                                 "vrealloc_bytes_copied": PAGE}
        return [r - p, area(k, r).size, outcomes(k), k.vmallocinfo()]

    twin(script, "grow-into-va")


@pytest.mark.parametrize("how", ["node_shrinker", "one_cpu"])
def test_grow_into_va_extends_once_the_neighbour_is_back_in_the_free_tree(how: str) -> None:
    """mm/vmalloc.c: vrealloc_node_align_noprof(): a freed neighbour's range is free again
    once purged into the free tree (one CPU: no vmap node pools; else after the shrinker)."""
    k = mk("grow-into-va", cpus=1 if how == "one_cpu" else 2)
    p = alloc(k, PAGE)
    k.write(p, b"data")
    q = alloc(k, PAGE)
    k.vfree(q)
    k.vm_unmap_aliases()
    if how == "node_shrinker":
        k.vmap_node_shrink()
    k.check()
    assert (k.stats().vmap_pooled, k.stats().vmap_lazy_nr) == (0, 0)
    s0 = counters(k)
    assert vr(k, p, 3 * PAGE) == p
    assert area(k, p).size == 4 * PAGE
    assert vdelta(k, s0) == {"vrealloc_calls": 1, "vrealloc_grow_in_place": 1,
                             "vrealloc_extended": 1, "vrealloc_pages_mapped": 2}
    assert k.read(p, 4) == b"data"


def test_grow_into_va_refills_within_its_own_range() -> None:
    """mm/vmalloc.c: vrealloc_node_align_noprof(): after latest's shrink freed the tail
    pages, a grow within the area's range maps new pages there (latest moves)."""
    k = mk("grow-into-va")
    p = alloc(k, 256 * KIB)
    alloc(k, PAGE)                                       # a neighbour: extension impossible
    data = pattern(16 * KIB)
    k.write(p, data)
    assert vr(k, p, 16 * KIB) == p
    assert area(k, p).nr_pages == 4 and k.stats().vrealloc_pages_freed == 60
    kept = area(k, p).pages
    k.trace.enable("vrealloc")
    s0 = counters(k)
    assert vr(k, p, 256 * KIB) == p
    a = area(k, p)
    assert (a.size, a.nr_pages, a.requested_size) == (266240, 64, 256 * KIB)
    assert a.pages[:4] == kept
    assert vdelta(k, s0) == {"vrealloc_calls": 1, "vrealloc_grow_in_place": 1,
                             "vrealloc_refilled": 1, "vrealloc_pages_mapped": 60}
    assert counters(k)["nr_vmalloc_pages"] == s0["nr_vmalloc_pages"] + 60
    assert events(k) == [{"p": p, "old_size": 16 * KIB, "new_size": 256 * KIB,
                          "outcome": "refilled"}]
    assert vinfo_line(p, 266240, "vmalloc", 64) in k.vmallocinfo().splitlines()
    assert k.read(p, 16 * KIB) == data
    k.write(p + 256 * KIB - 4, b"tail")
    assert k.read(p + 256 * KIB - 4, 4) == b"tail"


def test_grow_into_va_refill_and_extend_counts_as_extended() -> None:
    """mm/vmalloc.c: vrealloc_node_align_noprof(): a grow past the area's range that also
    refills freed pages extends it: counted as extended, not refilled."""
    k = mk("grow-into-va")
    p = alloc(k, 256 * KIB)
    data = pattern(16 * KIB)
    k.write(p, data)
    assert vr(k, p, 16 * KIB) == p
    s0 = counters(k)
    size = 300 * KIB + 5
    assert vr(k, p, size) == p
    a = area(k, p)
    assert (a.size, a.nr_pages, a.requested_size) == (page_align(size) + PAGE, nr_of(size), size)
    assert vdelta(k, s0) == {"vrealloc_calls": 1, "vrealloc_grow_in_place": 1,
                             "vrealloc_extended": 1, "vrealloc_pages_mapped": nr_of(size) - 4}
    assert k.read(p, 16 * KIB) == data


def test_grow_into_va_grow_within_pages_is_latest_in_place_grow() -> None:
    """mm/vmalloc.c: vrealloc_node_align_noprof(): size <= nr_pages * 4096 is latest's own
    in-place grow: no page mapped, not counted as extended or refilled."""
    k = mk("grow-into-va")
    p = alloc(k, 100)
    s0 = counters(k)
    assert vr(k, p, 4096) == p
    assert vdelta(k, s0) == {"vrealloc_calls": 1, "vrealloc_grow_in_place": 1}
    assert area(k, p).size == 2 * PAGE


def test_grow_into_va_huge_area_moves_as_latest() -> None:
    """mm/vmalloc.c: vrealloc_node_align_noprof(): only small-page areas grow in place; an
    area with PMD mappings (page_order 9) moves and copies as latest, though the range after
    it is free."""
    data = pattern(64 * KIB)

    def script(k: Kernel) -> list[object]:
        p = alloc_huge(k, 4 * MIB)
        assert area(k, p).page_order == 9
        k.write(p, data)
        k.write(p + 4 * MIB - len(data), data)
        s0 = counters(k)
        r = vr(k, p, 5 * MIB)
        assert r != p
        assert k.read(r, len(data)) == data and k.read(r + 4 * MIB - len(data), len(data)) == data
        assert vdelta(k, s0) == {"vrealloc_calls": 1, "vrealloc_moved": 1,
                                 "vrealloc_bytes_copied": 4 * MIB}
        return [r - p, area(k, r).page_order, area(k, r).size]

    twin(script, "grow-into-va")


@pytest.mark.parametrize("zeroing", ["init_on_alloc", "gfp_zero"])
@pytest.mark.parametrize("profile", ["grow-into-va", "refill-tail"])
def test_pages_mapped_in_place_are_zeroed_when_asked(profile: str, zeroing: str) -> None:
    """mm/vmalloc.c: vrealloc_node_align_noprof(): "If __GFP_ZERO logic is requested, callers
    must ensure that, starting with the initial memory allocation, every subsequent call to
    this API for the same memory allocation is flagged with __GFP_ZERO"; the pages a what-if
    maps in place come from the page allocator, which zeroes them for __GFP_ZERO and under
    init_on_alloc, though the frames held stale data."""
    k = mk(profile, init_on_alloc=zeroing == "init_on_alloc")
    gfp = GFP.KERNEL | GFP.ZERO if zeroing == "gfp_zero" else GFP.KERNEL
    stale = alloc(k, 512 * KIB)
    k.write(stale, b"\xbb" * (512 * KIB))
    p = alloc(k, 256 * KIB, gfp)
    data = pattern(16 * KIB)
    k.write(p, data)
    assert vr(k, p, 16 * KIB, gfp) == p
    k.vfree(stale)                                     # frames with stale bytes are free now
    k.check()
    s0 = counters(k)
    size = 256 * KIB if profile == "refill-tail" else 400 * KIB
    assert vr(k, p, size, gfp) == p
    assert counters(k)["vrealloc_pages_mapped"] == s0["vrealloc_pages_mapped"] + nr_of(size) - 4
    assert k.read(p, 16 * KIB) == data
    assert k.read(p + 16 * KIB, size - 16 * KIB) == bytes(size - 16 * KIB)


# -- refill-tail -----------------------------------------------------------------------------------


def test_refill_tail_worked_example() -> None:
    """mm/vmalloc.c: vrealloc_node_align_noprof(): latest frees 60 of 64 pages on the shrink
    to 16 KiB and then moves on the grow back (nr_pages * 4096 < size); refill-tail maps 60
    new pages in the area's own range and returns p."""
    k = mk("refill-tail")
    p = alloc(k, 256 * KIB)
    data = pattern(256 * KIB)
    k.write(p, data)
    a0 = area(k, p)
    k.trace.enable("vrealloc")
    assert vr(k, p, 16 * KIB) == p
    assert area(k, p).nr_pages == 4 and k.stats().vrealloc_pages_freed == 60
    s0 = counters(k)
    assert vr(k, p, 256 * KIB) == p
    a = area(k, p)
    assert (a.addr, a.size, a.nr_pages, a.requested_size, a.page_order) == (
        p, 266240, 64, 256 * KIB, 0)
    assert a.pages[:4] == a0.pages[:4]
    assert vdelta(k, s0) == {"vrealloc_calls": 1, "vrealloc_grow_in_place": 1,
                             "vrealloc_refilled": 1, "vrealloc_pages_mapped": 60}
    s1 = counters(k)
    assert s1["nr_vmalloc_pages"] == s0["nr_vmalloc_pages"] + 60
    assert (s1["vmap_areas"], s1["vmap_lazy_nr"]) == (s0["vmap_areas"], s0["vmap_lazy_nr"])
    assert events(k)[-1] == {"p": p, "old_size": 16 * KIB, "new_size": 256 * KIB,
                             "outcome": "refilled"}
    assert k.vmallocinfo().splitlines() == [vinfo_line(p, 266240, "vmalloc", 64)]
    assert k.read(p, 16 * KIB) == data[:16 * KIB]
    for i in range(4, 64):
        assert k.vmalloc_to_page(p + i * PAGE) == a.pages[i]
    k.write(p + 16 * KIB, data[16 * KIB:])
    assert k.read(p, 256 * KIB) == data


def test_refill_tail_partial_refill_then_refill_to_the_end() -> None:
    """mm/vmalloc.c: vrealloc_node_align_noprof(): a refill maps only up to
    PAGE_ALIGN(size); a later grow refills the rest."""
    k = mk("refill-tail")
    p = alloc(k, 256 * KIB)
    assert vr(k, p, 16 * KIB) == p
    s0 = counters(k)
    assert vr(k, p, 100 * KIB + 1) == p
    assert area(k, p).nr_pages == 26
    assert vdelta(k, s0) == {"vrealloc_calls": 1, "vrealloc_grow_in_place": 1,
                             "vrealloc_refilled": 1, "vrealloc_pages_mapped": 22}
    assert vr(k, p, 104 * KIB) == p                      # within nr_pages: latest in place
    assert vr(k, p, 256 * KIB) == p
    assert area(k, p).nr_pages == 64
    assert vdelta(k, s0) == {"vrealloc_calls": 3, "vrealloc_grow_in_place": 3,
                             "vrealloc_refilled": 2, "vrealloc_pages_mapped": 60}


def test_refill_tail_refills_the_last_page_freed_by_a_one_page_shrink() -> None:
    """mm/vmalloc.c: vrealloc_node_align_noprof(): the 2-page area shrunk to 100 bytes keeps
    one page; 4096 bytes is latest's in-place grow, 8192 a refill."""
    k = mk("refill-tail")
    p = alloc(k, 2 * PAGE)
    assert vr(k, p, 100) == p and area(k, p).nr_pages == 1
    s0 = counters(k)
    assert vr(k, p, PAGE) == p
    assert vdelta(k, s0) == {"vrealloc_calls": 1, "vrealloc_grow_in_place": 1}
    assert vr(k, p, 2 * PAGE) == p
    assert area(k, p).nr_pages == 2
    assert vdelta(k, s0) == {"vrealloc_calls": 2, "vrealloc_grow_in_place": 2,
                             "vrealloc_refilled": 1, "vrealloc_pages_mapped": 1}


@pytest.mark.parametrize("shrunk", [False, True])
def test_refill_tail_grow_beyond_its_range_moves_as_latest(shrunk: bool) -> None:
    """mm/vmalloc.c: vrealloc_node_align_noprof(): refill-tail never extends: a grow past
    the area's range moves and copies as latest, though the range after it is free."""
    data = pattern(16 * KIB)

    def script(k: Kernel) -> list[object]:
        p = alloc(k, 256 * KIB if shrunk else 16 * KIB)
        k.write(p, data)
        if shrunk:
            assert vr(k, p, 16 * KIB) == p
        k.trace.enable("vrealloc")
        s0 = counters(k)
        r = vr(k, p, 300 * KIB)
        assert r != p and k.find_vm_area(p) is None
        assert k.read(r, 16 * KIB) == data
        assert vdelta(k, s0) == {"vrealloc_calls": 1, "vrealloc_moved": 1,
                                 "vrealloc_bytes_copied": 16 * KIB}
        return [r - p, area(k, r).nr_pages, outcomes(k)]

    assert twin(script, "refill-tail")[2] == ["moved"]


def test_refill_tail_huge_area_moves_as_latest() -> None:
    """mm/vmalloc.c: vrealloc_node_align_noprof(): a huge-mapped area never frees tail
    pages on a shrink (page_order != 0), so a grow past nr_pages moves as latest."""
    def script(k: Kernel) -> list[object]:
        p = alloc_huge(k, 4 * MIB)
        k.write(p, b"huge")
        assert vr(k, p, 3 * MIB) == p
        assert area(k, p).nr_pages == 1024
        r = vr(k, p, 5 * MIB)
        assert k.read(r, 4) == b"huge"
        return [r - p, area(k, r).page_order]

    twin(script, "refill-tail")


# -- vremap ----------------------------------------------------------------------------------------


def test_vremap_moves_the_pages_instead_of_copying() -> None:
    """mm/vmalloc.c: vrealloc_node_align_noprof(): latest allocates a new area, memcpy()s
    min(size, old) bytes and vfree()s p; vremap maps p's pages at the start of the new area
    (new pages after them) and frees only p's range (lazily), copying nothing."""
    k = mk("vremap")
    p = alloc(k, 4 * PAGE)
    data = pattern(4 * PAGE)
    k.write(p, data)
    old = pfns(k, p)
    k.trace.enable("vrealloc")
    s0 = counters(k)
    q = vr(k, p, 8 * PAGE)
    assert q != p and k.find_vm_area(p) is None
    assert q == p + 5 * PAGE                             # the new area is placed as latest's
    a = area(k, q)
    assert (a.addr, a.size, a.nr_pages, a.requested_size, a.page_order) == (
        q, 9 * PAGE, 8, 8 * PAGE, 0)
    assert [pg.pfn for pg in a.pages[:4]] == old
    assert not set(old) & {pg.pfn for pg in a.pages[4:]}
    for i, pfn in enumerate(old):
        pg = k.vmalloc_to_page(q + i * PAGE)
        assert pg is not None and pg.pfn == pfn and pg.refcount > 0
    assert k.read(q, 4 * PAGE) == data
    assert k.read(dm(old[0]), PAGE) == data[:PAGE]          # the same frames, not a copy
    assert vdelta(k, s0) == {"vrealloc_calls": 1, "vrealloc_moved": 1, "vrealloc_remapped": 1}
    s1 = counters(k)
    assert s1["nr_vmalloc_pages"] == s0["nr_vmalloc_pages"] + 4
    assert s1["vmap_areas"] == s0["vmap_areas"]
    assert s1["vmap_lazy_nr"] == s0["vmap_lazy_nr"] + 5      # p's range and guard, lazily
    assert events(k) == [{"p": p, "old_size": 4 * PAGE, "new_size": 8 * PAGE,
                          "outcome": "remapped"}]
    assert k.vmallocinfo().splitlines() == [
        vinfo_line(q, 9 * PAGE, "vrealloc", 8),
        f"0x{p:016x}-0x{p + 5 * PAGE:016x} {5 * PAGE:7d} unpurged vm_area",
    ]
    with pytest.raises(PageFault):
        k.read(p, 1)
    k.check()
    k.write(q + 4 * PAGE, b"fresh page")
    assert k.read(q + 4 * PAGE, 10) == b"fresh page"


def test_vremap_frees_the_same_memory_as_latest() -> None:
    """mm/vmalloc.c: vrealloc_node_align_noprof(): latest frees p's pages and allocates
    new ones for all of the new area; vremap keeps p's and allocates only the rest: the same
    frame count either way, and the same address for the new area."""
    def script(k: Kernel) -> list[object]:
        base = leak_state(k)
        p = alloc(k, 4 * PAGE)
        k.write(p, b"abcd")
        q = vr(k, p, 8 * PAGE)
        k.write(q + 8 * PAGE - 4, b"wxyz")
        got: list[object] = [q - p, area(k, q).caller, leak_state(k), k.read(q, 4)]
        k.vfree(q)
        k.run_workqueues()
        k.vm_unmap_aliases()
        k.check()
        s = k.stats()
        assert (s.free_pages, s.nr_vmalloc_pages, s.vmap_areas) == (base[0], 0, 0)
        return got

    a, b = mk("vremap"), mk("latest")
    got, want = script(a), script(b)
    assert got == want
    assert a.stats().vrealloc_bytes_copied == 0 and b.stats().vrealloc_bytes_copied == 4 * PAGE


def test_vremap_after_a_freeing_shrink() -> None:
    """mm/vmalloc.c: vrealloc_node_align_noprof(): after latest's shrink kept 4 of 64 pages,
    the grow to 32 KiB moves; vremap maps the 4 kept pages and 4 new ones."""
    k = mk("vremap")
    p = alloc(k, 256 * KIB)
    data = pattern(16 * KIB)
    k.write(p, data)
    assert vr(k, p, 16 * KIB) == p
    old = pfns(k, p)
    assert len(old) == 4
    s0 = counters(k)
    q = vr(k, p, 32 * KIB)
    assert q == p + 266240 and k.find_vm_area(p) is None
    a = area(k, q)
    assert (a.nr_pages, a.size) == (8, 9 * PAGE)
    assert [pg.pfn for pg in a.pages[:4]] == old
    assert k.read(q, 16 * KIB) == data
    assert vdelta(k, s0) == {"vrealloc_calls": 1, "vrealloc_moved": 1, "vrealloc_remapped": 1}


def test_vremap_partial_last_page() -> None:
    """mm/vmalloc.c: vrealloc_node_align_noprof(): an unaligned old size: the whole last page
    is remapped, the bytes up to the old size are there."""
    k = mk("vremap")
    p = alloc(k, 5000)
    data = pattern(5000)
    k.write(p, data)
    old = pfns(k, p)
    q = vr(k, p, 20000)
    assert [pg.pfn for pg in area(k, q).pages[:2]] == old
    assert area(k, q).nr_pages == 5
    assert k.read(q, 5000) == data
    assert k.stats().vrealloc_bytes_copied == 0


def test_vremap_first_allocation_shrink_and_in_place_grow_are_latest() -> None:
    """mm/vmalloc.c: vrealloc_node_align_noprof(): a NULL p allocates, a shrink and a grow
    within nr_pages stay in place: nothing to remap."""
    def script(k: Kernel) -> list[object]:
        k.trace.enable("vrealloc")
        p = k.vrealloc(None, 3 * PAGE)
        assert p is not None
        k.check()
        k.write(p, b"x" * 100)
        assert vr(k, p, 100) == p
        assert vr(k, p, PAGE) == p
        return [outcomes(k), area(k, p).nr_pages, k.read(p, 100)]

    assert twin(script, "vremap")[0] == ["moved", "shrink", "grow_in_place"]


def test_vremap_huge_area_falls_back_to_copying() -> None:
    """mm/vmalloc.c: vrealloc_node_align_noprof(): an area with huge mappings (page_order 9)
    is moved by copying, as latest."""
    data = pattern(64 * KIB)

    def script(k: Kernel) -> list[object]:
        p = alloc_huge(k, 4 * MIB)
        k.write(p, data)
        k.write(p + 4 * MIB - len(data), data)
        s0 = counters(k)
        r = vr(k, p, 5 * MIB)
        assert vdelta(k, s0) == {"vrealloc_calls": 1, "vrealloc_moved": 1,
                                 "vrealloc_bytes_copied": 4 * MIB}
        assert k.read(r, len(data)) == data and k.read(r + 4 * MIB - len(data), len(data)) == data
        return [r - p, area(k, r).page_order]

    twin(script, "vremap")


def test_vremap_chain_of_moves_keeps_the_first_frames() -> None:
    """mm/vmalloc.c: vrealloc_node_align_noprof(): every move of latest copies; vremap's
    frames follow the data through any number of moves."""
    k = mk("vremap")
    p = alloc(k, PAGE)
    alloc(k, PAGE)                                       # keep the areas from being adjacent
    k.write(p, b"origin")
    first = pfns(k, p)[0]
    size = PAGE
    for _ in range(6):
        size *= 2
        q = vr(k, p, size)
        assert q != p and k.find_vm_area(p) is None
        assert pfns(k, q)[0] == first
        p = q
    assert k.read(p, 6) == b"origin"
    assert k.stats().vrealloc_remapped == 6 and k.stats().vrealloc_bytes_copied == 0


# -- keep-huge -------------------------------------------------------------------------------------


@pytest.mark.parametrize("source", ["vmalloc_huge", "kvmalloc"])
def test_keep_huge_move_asks_for_huge_mappings(source: str) -> None:
    """mm/vmalloc.c: vrealloc_node_align_noprof(): latest's move calls
    __vmalloc_node_noprof(), which never sets VM_ALLOW_HUGE_VMAP, so a huge area becomes a
    small-page one; keep-huge asks for huge mappings again (as kvmalloc_node() does)."""
    data = pattern(64 * KIB)
    size = 4 * MIB if source == "vmalloc_huge" else 6 * MIB

    def run(profile: str) -> tuple[Kernel, int, int]:
        k = mk(profile)
        if source == "vmalloc_huge":
            p = alloc_huge(k, size)
        else:
            # kvmalloc(4 MiB) is a kmalloc block (KMALLOC_MAX_SIZE); above it, vmalloc
            q = k.kvmalloc(size)
            k.check()
            assert q is not None and k.is_vmalloc_addr(q)
            p = q
        assert area(k, p).page_order == 9
        k.write(p, data)
        k.write(p + size - len(data), data)
        s0 = counters(k)
        r = kvr(k, p, 8 * MIB)
        assert r != p and k.find_vm_area(p) is None
        assert k.read(r, len(data)) == data and k.read(r + size - len(data), len(data)) == data
        assert vdelta(k, s0) == {"vrealloc_calls": 1, "vrealloc_moved": 1,
                                 "vrealloc_bytes_copied": size}
        return k, p, r

    k, p, r = run("keep-huge")
    a = area(k, r)
    assert (a.page_order, a.nr_pages, a.requested_size) == (9, 2048, 8 * MIB)
    assert untag(r) % PMD_SIZE == 0
    for i in (0, 512, 2047):
        pg = k.vmalloc_to_page(r + i * PAGE)
        assert pg is not None and pg.pfn == a.pages[i].pfn
    kl, _, rl = run("latest")
    assert area(kl, rl).page_order == 0


def test_keep_huge_shrink_and_grow_within_stay_in_place() -> None:
    """mm/vmalloc.c: vrealloc_node_align_noprof(): a shrink and a grow within nr_pages of a
    huge area never move, so keep-huge changes nothing there."""
    def script(k: Kernel) -> list[object]:
        p = alloc_huge(k, 4 * MIB)
        k.write(p, b"huge")
        assert vr(k, p, 3 * MIB) == p
        assert vr(k, p, 4 * MIB) == p
        return [area(k, p).nr_pages, area(k, p).page_order, k.read(p, 4)]

    twin(script, "keep-huge")


def test_keep_huge_small_page_areas_move_as_latest() -> None:
    """mm/vmalloc.c: vrealloc_node_align_noprof(): a small-page area's move is latest's,
    also when the new size would allow huge mappings."""
    def script(k: Kernel) -> list[object]:
        p = alloc(k, 16 * KIB)
        k.write(p, b"small")
        r = vr(k, p, 32 * KIB)
        order = area(k, r).page_order
        r2 = vr(k, r, 6 * MIB)
        assert k.read(r2, 5) == b"small"
        return [r - p, r2 - p, order, area(k, r2).page_order]

    twin(script, "keep-huge")


def test_keep_huge_without_huge_vmalloc_moves_to_small_pages() -> None:
    """mm/vmalloc.c: vrealloc_node_align_noprof(): under nohugevmalloc there are no huge
    mappings to keep: vmalloc_huge() maps small pages and a move stays small."""
    def script(k: Kernel) -> list[object]:
        p = alloc_huge(k, 4 * MIB)
        assert area(k, p).page_order == 0
        k.write(p, b"nohuge")
        r = kvr(k, p, 8 * MIB)
        assert k.read(r, 6) == b"nohuge"
        return [r - p, area(k, r).page_order]

    twin(script, "keep-huge", huge_vmalloc=False)


def test_keep_huge_falls_back_to_small_pages_when_huge_pages_fail() -> None:
    """mm/vmalloc.c: __vmalloc_node_range_noprof(): a failed huge attempt is retried with
    small pages; keep-huge's move still succeeds."""
    k = mk("keep-huge")
    p = alloc_huge(k, 4 * MIB)
    data = pattern(64 * KIB)
    k.write(p, data)
    k.fault.fail_page_alloc(probability=1.0, times=-1, min_order=9)
    r = kvr(k, p, 8 * MIB)
    k.fault.clear()
    assert area(k, r).page_order == 0 and area(k, r).nr_pages == 2048
    assert k.read(r, len(data)) == data
    k.run_workqueues()
    k.check()


@pytest.mark.parametrize("profile", NAMES)
def test_vmap_area_moves_as_latest(profile: str) -> None:
    """mm/vmalloc.c: vrealloc_node_align_noprof(): an area from vmap() has no vmalloc pages
    (nr_pages 0; the caller owns its frames): every what-if moves and copies it as latest,
    and the caller's pages are neither taken nor freed."""
    def script(k: Kernel) -> list[object]:
        pages = k.alloc_pages_bulk(2)
        p = k.vmap(pages)
        assert p is not None
        k.check()
        k.write(p, b"vmapped")
        r = vr(k, p, 3 * PAGE)
        assert k.find_vm_area(p) is None
        assert [pg.refcount for pg in pages] == [1, 1]
        assert not {pg.pfn for pg in pages} & set(pfns(k, r))
        return [r - p, k.read(r, 7), area(k, r).nr_pages]

    twin(script, profile)


@pytest.mark.parametrize("flag", [VM.USERMAP, VM.FLUSH_RESET_PERMS])
def test_grow_into_va_special_areas_move_as_latest(flag: VM) -> None:
    """mm/vmalloc.c: vrealloc_node_align_noprof(): latest never frees the pages of a
    VM_USERMAP or VM_FLUSH_RESET_PERMS area on a shrink; they are not ordinary vmalloc
    areas, so grow-into-va does not extend them either (resolved: spec says "an ordinary
    vmalloc area")."""
    def script(k: Kernel) -> list[object]:
        p = k.vmalloc_node_range(PAGE, 1, VMALLOC_START, VMALLOC_END, GFP.KERNEL, flag)
        assert p is not None
        k.check()
        k.write(p, b"special")
        r = vr(k, p, 3 * PAGE)
        return [r - p, k.read(r, 7)]

    twin(script, "grow-into-va")


# -- the what-ifs together ---------------------------------------------------------------------


def test_combined_profile_extends_else_remaps() -> None:
    """mm/vmalloc.c: vrealloc_node_align_noprof(): the fields combine: a grow extends when
    it can; when a neighbour is in the way the move is a remap, not a copy."""
    prof = vrealloc_profile(name="extend-or-remap", grow_pages="extend_va", move="remap")
    k = mk(prof)
    p = alloc(k, PAGE)
    k.write(p, b"abc")
    assert vr(k, p, 2 * PAGE) == p
    alloc(k, PAGE)                                      # a neighbour right after p
    first = pfns(k, p)
    q = vr(k, p, 3 * PAGE)
    assert q != p and pfns(k, q)[:2] == first
    assert k.read(q, 3) == b"abc"
    s = k.stats()
    assert (s.vrealloc_extended, s.vrealloc_remapped, s.vrealloc_moved, s.vrealloc_bytes_copied) == (
        1, 1, 1, 0)


# -- failures --------------------------------------------------------------------------------------


def _setup(k: Kernel, scenario: str) -> tuple[int, int, bytes]:
    """An area ready for the what-if's grow: (p, target size, its contents)."""
    if scenario == "huge":
        p = alloc_huge(k, 4 * MIB)
        n = 4 * MIB
    elif scenario == "refill":
        p = alloc(k, 256 * KIB)
        assert vr(k, p, 16 * KIB) == p
        n = 16 * KIB
    elif scenario == "extend":
        p = alloc(k, PAGE)
        n = PAGE
    else:
        assert scenario == "remap"
        p = alloc(k, 16 * KIB)
        n = 16 * KIB
    data = pattern(min(n, 64 * KIB))
    k.write(p, data)
    target = {"huge": 8 * MIB, "refill": 256 * KIB, "extend": 64 * PAGE, "remap": 64 * KIB}
    return p, target[scenario], data


FAIL_CASES = [("grow-into-va", "extend", "extended"), ("grow-into-va", "refill", "refilled"),
              ("refill-tail", "refill", "refilled"), ("vremap", "remap", "remapped"),
              ("keep-huge", "huge", "moved")]


@pytest.mark.parametrize("what", ["pages", "pages_and_slab"])
@pytest.mark.parametrize(("profile", "scenario", "outcome"), FAIL_CASES)
def test_failed_grow_leaves_p_valid_and_changes_nothing(profile: str, scenario: str, outcome: str,
                                                        what: str) -> None:
    """mm/vmalloc.c: vrealloc_node_align_noprof(): "If the allocation fails, the original
    memory is left untouched and NULL is returned"; the what-ifs' in-place pages, extended
    range, page array and remapped area are all given back on failure."""
    k = mk(profile)
    keep = k.kmalloc(32)                               # keeps a small slab, as latest's tests
    assert keep is not None
    p, target, data = _setup(k, scenario)
    a0 = area(k, p)
    busy0 = busy_lines(k)
    before = leak_state(k)
    s0 = counters(k)
    k.trace.enable("vrealloc")
    k.fault.fail_page_alloc(probability=1.0, interval=1, times=-1)
    if what == "pages_and_slab":
        k.fault.failslab(probability=1.0, interval=1, times=-1)
    q = k.kvrealloc(p, target) if scenario == "huge" else k.vrealloc(p, target)
    k.check()
    k.fault.clear()
    assert q is None
    assert area(k, p) == a0
    assert k.read(p, len(data)) == data
    assert events(k) == [{"p": p, "old_size": a0.requested_size, "new_size": target,
                          "outcome": "failed"}]
    changed = {name: d for name, d in vdelta(k, s0).items() if "fail" not in name}
    assert changed == {"vrealloc_calls": 1}
    k.run_workqueues()                                # the cleanup of a failed new area
    k.check()
    assert leak_state(k) == before
    assert busy_lines(k) == busy0
    # and the same grow works once memory is back (and the failed area's range, lazily
    # freed right after p's guard page, is back in the free tree)
    k.vm_unmap_aliases()
    k.vmap_node_shrink()
    k.check()
    r = k.kvrealloc(p, target) if scenario == "huge" else k.vrealloc(p, target)
    k.check()
    assert r is not None and k.read(r, len(data)) == data
    assert events(k)[-1]["outcome"] == outcome
    assert (r == p) == (outcome in ("extended", "refilled"))


@pytest.mark.parametrize("interval", [2, 3, 5, 17])
@pytest.mark.parametrize(("profile", "scenario", "outcome"), FAIL_CASES)
def test_partly_failing_grow_is_all_or_nothing(profile: str, scenario: str, outcome: str,
                                               interval: int) -> None:
    """mm/vmalloc.c: vrealloc_node_align_noprof(): with every n-th page allocation failing,
    the grow either succeeds with the data or fails with p untouched; nothing leaks."""
    k = mk(profile)
    fresh = memory(k)
    p, target, data = _setup(k, scenario)
    a0 = area(k, p)
    before = leak_state(k)
    k.fault.fail_page_alloc(probability=1.0, interval=interval, times=-1)
    q = k.kvrealloc(p, target) if scenario == "huge" else k.vrealloc(p, target)
    k.check()
    k.fault.clear()
    if q is None:
        assert area(k, p) == a0 and k.read(p, len(data)) == data
        k.run_workqueues()
        k.check()
        assert leak_state(k) == before
        q = p
    else:
        assert k.read(q, len(data)) == data
        assert area(k, q).nr_pages == nr_of(target)
    k.vfree(q)
    k.run_workqueues()
    k.vm_unmap_aliases()
    k.check()
    assert memory(k) == fresh


# -- KASAN -----------------------------------------------------------------------------------------


KASAN_SCRIPTS: dict[str, tuple[str, int, list[tuple[int, str]]]] = {
    "grow-into-va": ("vmalloc", 100, [(5000, "extended"), (12345, "extended"), (3000, "shrink"),
                                      (9001, "refilled"), (50001, "extended")]),
    "refill-tail": ("vmalloc", 200000, [(10000, "shrink"), (150001, "refilled"),
                                        (190003, "refilled"), (250001, "moved")]),
    "vremap": ("vmalloc", 5000, [(20001, "remapped"), (7000, "shrink"), (30003, "remapped")]),
    "keep-huge": ("huge", 4 * MIB + 100, [(8 * MIB + 8, "moved"), (5 * MIB + 24, "shrink")]),
}


@pytest.mark.parametrize("kasan", ["generic", "sw_tags"])
@pytest.mark.parametrize("profile", NAMES)
def test_kasan_shadow_covers_exactly_the_requested_size(profile: str, kasan: KMode) -> None:
    """mm/vmalloc.c: vrealloc_node_align_noprof() calls kasan_vrealloc() (latest): after a
    resize [0, size) is accessible and a read at size is reported just where latest reports
    it; the what-ifs' in-place pages, extended range and remapped area follow the same rule."""
    how, first, steps = KASAN_SCRIPTS[profile]
    k = mk(profile, kasan)
    k.trace.enable("vrealloc")
    p = alloc_huge(k, first) if how == "huge" else alloc(k, first)
    model = pattern(first, 3)
    k.write(p, model)
    assert k.kasan_reports == []
    size = first
    expected = 0                                     # the reports of the reads at size
    for new, outcome in steps:
        q = kvr(k, p, new) if how == "huge" else vr(k, p, new)
        assert outcomes(k)[-1] == outcome, new
        assert len(k.kasan_reports) == expected, new
        keep = min(size, new)
        assert k.read(q, keep) == model[:keep]
        k.read(q + keep, new - keep)                # accessible, whatever it holds
        assert len(k.kasan_reports) == expected, new
        if new % PAGE:
            k.read(q + new, 1)
            expected += latest_reports_at(kasan, new)
            assert len(k.kasan_reports) == expected, new
            k.check()
        model = pattern(new, new % 251)
        k.write(q, model)
        assert len(k.kasan_reports) == expected
        p, size = q, new
    k.vfree(p)
    k.check()


@pytest.mark.parametrize("kasan", ["generic", "sw_tags"])
def test_kasan_vremap_old_pointer_reports_as_latest(kasan: KMode) -> None:
    """mm/vmalloc.c: vrealloc_node_align_noprof(): after a move the old pointer is freed
    memory under latest (vfree poisons it); vremap's unmapped old range is reported alike."""
    def script(k: Kernel) -> list[object]:
        p = alloc(k, 5000)
        k.write(p, pattern(5000))
        q = vr(k, p, 20001)
        assert k.read(q, 5000) == pattern(5000)
        assert k.kasan_reports == []
        with pytest.raises(PageFault):
            k.read(p, 1)
        return [r.bug_type for r in k.kasan_reports]

    a, b = mk("vremap", kasan), mk("latest", kasan)
    assert script(a) == script(b)
    assert len(a.kasan_reports) == 1


# -- memcg -----------------------------------------------------------------------------------------


MEMCG_SCRIPTS: dict[str, tuple[str, int, list[int]]] = {
    "grow-into-va": ("vmalloc", PAGE, [2 * PAGE, 100000, 3 * MIB, 5 * MIB + 123, 64 * KIB, MIB]),
    "refill-tail": ("vmalloc", 256 * KIB, [16 * KIB, 256 * KIB, 100 * KIB, 200 * KIB, 300 * KIB]),
    "vremap": ("vmalloc", 16 * KIB, [64 * KIB, 8 * KIB, 200 * KIB, 3 * MIB]),
    "keep-huge": ("huge", 4 * MIB, [8 * MIB, 6 * MIB, 10 * MIB]),
}


@pytest.mark.parametrize("profile", NAMES)
def test_memcg_charge_follows_the_pages_the_area_holds(profile: str) -> None:
    """mm/vmalloc.c: vrealloc_node_align_noprof(): pages come and go with the gfp of the call
    (__GFP_ACCOUNT charges them, mm/memcontrol.c); a what-if's in-place and remapped pages
    are charged like latest's: memory.current is the area's pages after every resize."""
    how, first, sizes = MEMCG_SCRIPTS[profile]
    k = mk(profile)
    cg = k.memcg.create("app")
    base = cg.usage
    assert base == 0
    with k.memcg.charge_to(cg):
        gfp = GFP.KERNEL_ACCOUNT
        p = alloc_huge(k, first, gfp) if how == "huge" else alloc(k, first, gfp)
        k.write(p, b"memcg")
        assert cg.usage == area(k, p).nr_pages * PAGE == cg.stat()["vmalloc"]
        for size in sizes:
            p = kvr(k, p, size, gfp) if how == "huge" else vr(k, p, size, gfp)
            nr = area(k, p).nr_pages
            assert cg.usage == nr * PAGE == cg.stat()["vmalloc"], size
            assert k.read(p, 5) == b"memcg"
    k.vfree(p)
    k.check()
    assert cg.usage == base and cg.stat() == {"kernel": 0, "vmalloc": 0}
    s = k.stats()
    if profile == "grow-into-va":
        assert s.vrealloc_extended >= 3
    elif profile == "refill-tail":
        assert s.vrealloc_refilled == 2             # 16 -> 256 KiB and 100 -> 200 KiB
    elif profile == "vremap":
        assert s.vrealloc_remapped == 3
    else:
        assert s.vrealloc_moved == 2


# -- a model-based state machine per what-if -------------------------------------------------------


SIZES = st.one_of(st.integers(1, 3 * PAGE),
                  st.sampled_from([4095, 4096, 4097, 8192, 16384, 65536, 262144]),
                  st.integers(1, 300_000))
BIG = st.integers(2 * MIB, 5 * MIB)


class WhatIfMachine(RuleBasedStateMachine):
    """A few live areas against a bytearray each: vmalloc, writes, resizes both ways, vfree."""

    profile: ClassVar[str | VreallocProfile] = "latest"
    kasan: ClassVar[KMode] = "off"
    big: ClassVar[bool] = False                   # also huge areas and multi-MiB resizes
    MAX_LIVE: ClassVar[int] = 4

    def __init__(self) -> None:
        super().__init__()
        self.k = Kernel(KernelConfig(vrealloc=self.profile, kasan=self.kasan, ram=128 << 20))
        self.fresh = memory(self.k)
        self.live: list[tuple[int, bytearray]] = []

    def _add(self, p: int | None, size: int) -> None:
        if p is not None:
            self.live.append((p, bytearray(self.k.read(p, size))))

    @precondition(lambda self: len(self.live) < self.MAX_LIVE)
    @rule(size=SIZES)
    def vmalloc(self, size: int) -> None:
        self._add(self.k.vmalloc(size), size)

    @precondition(lambda self: self.big and len(self.live) < self.MAX_LIVE)
    @rule(size=BIG)
    def vmalloc_huge(self, size: int) -> None:
        self._add(self.k.vmalloc_huge(size), size)

    @precondition(lambda self: bool(self.live))
    @rule(i=st.integers(0, 7), off=st.integers(0, 1 << 30), data=st.binary(min_size=1, max_size=600))
    def write(self, i: int, off: int, data: bytes) -> None:
        p, m = self.live[i % len(self.live)]
        off %= len(m)
        data = data[:len(m) - off]
        self.k.write(p + off, data)
        m[off:off + len(data)] = data

    def _resize(self, i: int, size: int) -> None:
        idx = i % len(self.live)
        p, m = self.live[idx]
        q = self.k.vrealloc(p, size)
        if size == 0:
            assert q is None and self.k.find_vm_area(p) is None
            del self.live[idx]
            return
        if q is None:                              # out of memory: p untouched
            assert self.k.read(p, len(m)) == m
            return
        keep = min(len(m), size)
        assert self.k.read(q, keep) == m[:keep]
        if q != p:
            assert self.k.find_vm_area(p) is None
        self.live[idx] = (q, m[:keep] + bytearray(self.k.read(q + keep, size - keep)))

    @precondition(lambda self: bool(self.live))
    @rule(i=st.integers(0, 7), size=st.one_of(SIZES, st.just(0)))
    def vrealloc(self, i: int, size: int) -> None:
        self._resize(i, size)

    @precondition(lambda self: self.big and bool(self.live))
    @rule(i=st.integers(0, 7), size=BIG)
    def vrealloc_big(self, i: int, size: int) -> None:
        self._resize(i, size)

    @precondition(lambda self: bool(self.live))
    @rule(i=st.integers(0, 7), permille=st.integers(0, 1000))
    def shrink(self, i: int, permille: int) -> None:
        m = self.live[i % len(self.live)][1]
        self._resize(i, max(1, len(m) * permille // 1000))

    @precondition(lambda self: bool(self.live))
    @rule(i=st.integers(0, 7), permille=st.integers(0, 1000))
    def regrow_within_range(self, i: int, permille: int) -> None:
        """A grow past nr_pages but within the area's range (after a freeing shrink)."""
        p, m = self.live[i % len(self.live)]
        a = area(self.k, p)
        lo, hi = a.nr_pages * PAGE + 1, a.size - PAGE
        # no freed pages yet: free some, for a later refill
        self._resize(i, lo + (hi - lo) * permille // 1000 if lo <= hi else max(1, len(m) // 4))

    @precondition(lambda self: bool(self.live))
    @rule(i=st.integers(0, 7), extra=st.integers(1, 5 * PAGE))
    def grow_by(self, i: int, extra: int) -> None:
        """A grow by a few pages: into the free range after the area when there is one."""
        self._resize(i, len(self.live[i % len(self.live)][1]) + extra)

    @precondition(lambda self: bool(self.live))
    @rule(i=st.integers(0, 7))
    def vfree(self, i: int) -> None:
        p, _ = self.live.pop(i % len(self.live))
        self.k.vfree(p)

    @rule()
    def purge(self) -> None:
        self.k.run_workqueues()
        self.k.vm_unmap_aliases()

    @invariant()
    def contents_and_invariants(self) -> None:
        for p, m in self.live:
            assert self.k.read(p, len(m)) == m
            assert area(self.k, p).requested_size == len(m)
        self.k.check()
        assert self.k.kasan_reports == []

    def teardown(self) -> None:
        for p, _ in self.live:
            self.k.vfree(p)
        self.live = []
        self.k.run_workqueues()
        self.k.vm_unmap_aliases()
        self.k.check()
        assert memory(self.k) == self.fresh


def machine_case(profile: str | VreallocProfile, kasan: KMode, examples: int, steps: int,
                 big: bool = False) -> Any:
    """The pytest-collected TestCase of :class:`WhatIfMachine` for one profile."""
    name = profile if isinstance(profile, str) else profile.name
    cls_name = "WhatIf_" + name.replace("-", "_") + ("" if kasan == "off" else "_" + kasan)
    machine: Any = type(cls_name, (WhatIfMachine,), {"profile": profile, "kasan": kasan, "big": big})
    case = machine.TestCase
    case.settings = settings(max_examples=examples, stateful_step_count=steps, deadline=None,
                             suppress_health_check=list(HealthCheck), derandomize=True)
    return case


TestGrowIntoVaMachine = machine_case("grow-into-va", "off", 40, 30)
TestRefillTailMachine = machine_case("refill-tail", "off", 40, 30)
TestVremapMachine = machine_case("vremap", "off", 40, 30)
TestKeepHugeMachine = machine_case("keep-huge", "off", 15, 25, big=True)
TestAllThreeMachine = machine_case(
    vrealloc_profile(name="all-three-machine", grow_pages="extend_va", move="remap",
                     move_keeps_huge=True), "off", 15, 25, big=True)
TestGrowIntoVaMachineKasan = machine_case("grow-into-va", "generic", 12, 25)
TestRefillTailMachineKasan = machine_case("refill-tail", "generic", 12, 25)
TestVremapMachineKasan = machine_case("vremap", "generic", 12, 25)
TestKeepHugeMachineKasan = machine_case("keep-huge", "generic", 6, 15, big=True)
TestGrowIntoVaMachineSwTags = machine_case("grow-into-va", "sw_tags", 12, 25)
TestRefillTailMachineSwTags = machine_case("refill-tail", "sw_tags", 12, 25)
TestVremapMachineSwTags = machine_case("vremap", "sw_tags", 12, 25)
TestKeepHugeMachineSwTags = machine_case("keep-huge", "sw_tags", 6, 15, big=True)


# -- the interleaving figure -----------------------------------------------------------------------


def in_place_rate(profile: str, vectors: int, top: int = 16 * MIB) -> float:
    """Vectors growing by doubling from 4 KiB to ``top``, alternately: the share of grows
    that returned the same pointer (the first allocation is not a grow)."""
    k = mk(profile)
    ptrs = [alloc(k, PAGE) for _ in range(vectors)]
    for i, p in enumerate(ptrs):
        k.write(p, bytes([i + 1]) * 8)
    grows = same = 0
    size = PAGE
    while size < top:
        size *= 2
        for i, p in enumerate(ptrs):
            q = vr(k, p, size)
            grows += 1
            same += q == p
            ptrs[i] = q
    for i, p in enumerate(ptrs):
        assert k.read(p, 8) == bytes([i + 1]) * 8
        assert area(k, p).nr_pages == top // PAGE
    return same / grows


def test_interleaving_figure() -> None:
    """mm/vmalloc.c: vrealloc_node_align_noprof(): one doubling vector never moves under
    grow-into-va (latest: always); two interleaved vectors are each other's neighbour, so
    some of their grows must move."""
    one = in_place_rate("grow-into-va", 1)
    two = in_place_rate("grow-into-va", 2)
    latest_one = in_place_rate("latest", 1)
    print(f"\nin-place rate, doubling 4 KiB -> 16 MiB: grow-into-va one vector {one:.0%}, "
          f"two interleaved {two:.0%}; latest one vector {latest_one:.0%}")
    assert one == 1.0
    assert two < 1.0
    assert latest_one == 0.0


# -- sanity of the helpers above -------------------------------------------------------------------


def test_vmalloc_node_range_neighbour_is_an_ordinary_area() -> None:
    k = mk("latest")
    q = k.vmalloc_node_range(PAGE, 1, VS + 8 * PAGE, VMALLOC_END, GFP.KERNEL, 0)
    assert q == VS + 8 * PAGE
    assert area(k, q).flags & VM.ALLOC
    k.check()


# -- Kernel.check() covers the KVA primitive of grow-into-va ---------------------------------------


def test_check_catches_an_extension_that_left_its_range_in_the_free_tree() -> None:
    """extend_vmap_area() must take [va_end, new_end) out of the free tree: an extension
    that does not (a busy area overlapping a free block) is INV-KVA-1."""
    from kvalloc import KernelBug
    k = mk("grow-into-va")
    p = alloc(k, PAGE)
    assert vr(k, p, 2 * PAGE) == p
    k.check()
    kva = k.machine.kva
    va = kva.find_vmap_area(p)
    assert va is not None
    kva.free.merge_or_add(va.va_end - PAGE, va.va_end)   # the broken primitive's leftover
    with pytest.raises(KernelBug, match="INV-KVA-1"):
        k.check()


def test_check_catches_an_extension_that_did_not_grow_the_vm() -> None:
    """The vm's size must follow its area's (INV-KVA-5)."""
    from kvalloc import KernelBug
    k = mk("grow-into-va")
    p = alloc(k, PAGE)
    assert vr(k, p, 3 * PAGE) == p
    k.check()
    vm = k.find_vm_area(p)
    assert vm is not None
    k.machine.vmalloc.find_vm_area(p).size -= PAGE     # type: ignore[union-attr]
    with pytest.raises(KernelBug, match="INV-KVA-5"):
        k.check()
