"""``Kernel.check()``: every invariant of docs/invariants.md, named in each failure."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

from ..constants import (
    PAGE_SHIFT,
    PAGE_SIZE,
    ULONG_MAX,
    VMAP_RAM,
)
from ..errors import KernelBug
from ..vm_flags import V
from .page_alloc import OWNER_VMALLOC
from .proc import buddyinfo, meminfo

if TYPE_CHECKING:
    from .machine import Machine
    from .page_alloc import Block
    from .vmalloc_types import VmStruct


def _fail(name: str, what: str) -> KernelBug:
    return KernelBug(f"{name}: {what}")


def check_address_space(k: Machine) -> None:
    """INV-KVA-1 .. INV-KVA-5."""
    kva = k.kva
    try:
        kva.free.check()
    except AssertionError as err:
        raise _fail("INV-KVA-1", f"free-area index broken ({err})") from None
    for tree, kind in ((kva.busy, "busy"), (kva.lazy, "lazy")):
        try:
            tree.check()
        except AssertionError as err:
            raise _fail("INV-KVA-1", f"{kind} tree broken ({err})") from None
    spans: list[tuple[int, int, str]] = [(s, e, "free") for s, e in kva.free]
    spans += [(va.va_start, va.va_end, "busy") for va in kva.busy]
    spans += [(va.va_start, va.va_end, "lazy") for va in kva.lazy]
    spans += [(va.va_start, va.va_end, "leaked") for va in kva.leaked]
    spans += [(va.va_start, va.va_end, "pooled") for _, va in kva.pooled()]
    spans.sort()
    pos = 1
    prev_kind = ""
    for s, e, kind in spans:
        if s >= e:
            raise _fail("INV-KVA-1", f"{kind} area {s:#x}-{e:#x} is empty")
        if s != pos:
            raise _fail("INV-KVA-1", f"{'gap' if s > pos else 'overlap'} at {min(s, pos):#x} "
                                     f"before {kind} area {s:#x}-{e:#x}")
        if kind == prev_kind == "free":
            raise _fail("INV-KVA-2", f"free blocks adjacent at {s:#x}")
        pos, prev_kind = e, kind
    if pos != ULONG_MAX:
        raise _fail("INV-KVA-1", f"areas end at {pos:#x}, not ULONG_MAX")
    lazy_pages = busy_bytes = 0
    for tree, kind in ((kva.busy, "busy"), (kva.lazy, "lazy")):
        for va in tree:
            if va.va_start & (PAGE_SIZE - 1) or va.va_end & (PAGE_SIZE - 1):
                raise _fail("INV-KVA-3", f"{kind} area {va.va_start:#x}-{va.va_end:#x} not page aligned")
            if kind == "lazy":
                lazy_pages += (va.va_end - va.va_start) >> PAGE_SHIFT
            else:
                busy_bytes += va.va_end - va.va_start
    if lazy_pages != kva.vmap_lazy_nr:
        raise _fail("INV-KVA-4", f"vmap_lazy_nr {kva.vmap_lazy_nr} != {lazy_pages} lazy pages")
    if busy_bytes != kva.busy_bytes:
        raise _fail("INV-KVA-4", f"busy_bytes {kva.busy_bytes} != {busy_bytes} bytes of busy areas")
    pooled = kva.pooled()
    if len(pooled) != kva.nr_pooled:
        raise _fail("INV-KVA-6", f"nr_pooled {kva.nr_pooled} != {len(pooled)} pooled areas")
    for node, pools in enumerate(kva.pools):
        for idx, pool in pools.items():
            for va in pool:
                if (va.va_end - va.va_start - 1) >> PAGE_SHIFT != idx or not pool:
                    raise _fail("INV-KVA-6", f"pooled area {va.va_start:#x}-{va.va_end:#x} "
                                             f"in the pool of {idx + 1} pages")
                if va.flags >> 8 != node + 1 or va.vm is not None:
                    raise _fail("INV-KVA-6", f"pooled area {va.va_start:#x}-{va.va_end:#x} "
                                             f"of node {(va.flags >> 8) - 1} in node {node}'s pool")
    if kva.vmap_lazy_nr > kva.lazy_max_pages and "drain_vmap_work" not in k.wq.pending:
        raise _fail("INV-KVA-4", f"vmap_lazy_nr {kva.vmap_lazy_nr} > lazy_max_pages "
                                 f"{kva.lazy_max_pages} and drain_vmap_work is not pending")
    untag = k.untag
    for va in kva.busy:
        vm = va.vm
        if vm is not None:
            if untag(vm.addr) != va.va_start or vm.size != va.va_end - va.va_start:
                raise _fail("INV-KVA-5", f"vm {vm.addr:#x}+{vm.size} does not match its area "
                                         f"{va.va_start:#x}-{va.va_end:#x}")
            if va.flags & VMAP_RAM:
                raise _fail("INV-KVA-5", f"area {va.va_start:#x} has a vm and is VMAP_RAM")


def _vm_pages(vm: VmStruct) -> list[int]:
    return [] if vm.pages is None else vm.pages.pfns(0, vm.nr_pages)


def check_areas(k: Machine) -> None:
    """INV-VM-1 .. INV-VM-3, INV-PT-1, INV-PT-2."""
    mem, pgtable, untag = k.mem, k.pgtable, k.untag
    frees_tail = k.profile.shrink_frees_pages     # nr_pages may drop below the area's pages
    pending = {id(vm) for vm in k.vmalloc.pending_cleanup}
    for failed in k.vmalloc.pending_cleanup:
        if failed.va is None or k.kva.busy.find(failed.va.va_start) is not failed.va or \
                not failed.flags & V.UNINITIALIZED:
            raise _fail("INV-VM-4", f"failed area {failed.addr:#x} awaiting cleanup is not a "
                                    "busy, uninitialised area")
    if bool(pending) != ("cleanup_vm_area" in k.wq.pending):
        raise _fail("INV-VM-4", f"{len(pending)} failed areas but cleanup_vm_area is "
                                f"{'' if 'cleanup_vm_area' in k.wq.pending else 'not '}pending")
    for va in k.kva.busy:
        vm = va.vm
        if vm is None or not vm.flags & V.ALLOC or id(vm) in pending:
            continue
        name = f"area {vm.addr:#x}"
        full = vm.area_size >> PAGE_SHIFT
        if not 1 <= vm.nr_pages <= full or (not frees_tail and vm.nr_pages != full):
            raise _fail("INV-VM-1", f"{name} has nr_pages {vm.nr_pages} of {full}")
        if vm.page_order not in (0, 9) or (vm.page_order == 9 and not vm.flags & V.ALLOW_HUGE_VMAP):
            raise _fail("INV-VM-1", f"{name} has page_order {vm.page_order}")
        if vm.requested_size > vm.area_size or (frees_tail and vm.requested_size > vm.nr_pages * PAGE_SIZE):
            raise _fail("INV-VM-2", f"{name} requested_size {vm.requested_size} too large")
        pages = vm.pages
        if pages is not None:
            pages.check(name)
        if pages is None or pages.nr_filled(0, vm.nr_pages) != vm.nr_pages or \
                pages.nr_filled(vm.nr_pages):
            raise _fail("INV-VM-3", f"{name} page slots do not match nr_pages {vm.nr_pages}")
        pfns = _vm_pages(vm)
        if len(set(pfns)) != len(pfns):
            raise _fail("INV-VM-3", f"{name} maps a frame twice")
        b: Block | None
        for _, n, pfn0, what in pages.segments(0, vm.nr_pages):
            for i in range(n):
                if isinstance(what, list):
                    b, pfn = what[i], what[i].pfn
                    if dict.get(mem.blocks, pfn) is not b:
                        b = None
                else:
                    pfn = pfn0 + i
                    b = dict.get(mem.blocks, pfn)
                    if b is None and mem.split_of(pfn) is what:
                        continue                   # a page of the split block, no Block yet
                if b is None or b.refcount < 1:
                    raise _fail("INV-VM-3", f"{name} page {pfn:#x} is not allocated")
        if vm.page_order == 9:
            for i in range(0, len(pfns), 512):
                if pfns[i] % 512 or pfns[i:i + 512] != list(range(pfns[i], pfns[i] + 512)):
                    raise _fail("INV-VM-3", f"{name} huge chunk {i // 512} is not an aligned run")
        vpn = untag(vm.addr) >> PAGE_SHIFT
        for i, pfn in enumerate(pfns):
            if pgtable.translate_vmalloc(vpn + i) != pfn:
                raise _fail("INV-PT-1", f"{name} page {i} is not mapped to pfn {pfn:#x}")
        for v in range(vpn + vm.nr_pages, va.va_end >> PAGE_SHIFT):
            if pgtable.translate_vmalloc(v) is not None:
                raise _fail("INV-PT-1", f"{name} guard or freed tail page {v << PAGE_SHIFT:#x} is mapped")
    busy = k.kva.busy
    # A vm_map_ram area passed to vfree() is unlinked and lost with its mappings, as in the
    # kernel (mm/vmalloc.c: remove_vm_area()): its leaked range is exempt from INV-PT-2.
    leaked = sorted((va.va_start, va.va_end) for va in k.kva.leaked)
    for v in pgtable.mapped_vpns():
        a = v << PAGE_SHIFT
        if any(s <= a < e for s, e in leaked):
            continue
        if busy.find(a) is None:
            raise _fail("INV-PT-2", f"mapped address {a:#x} lies outside every busy area")


def check_pages(k: Machine) -> None:
    """INV-PG-1 .. INV-PG-3, INV-CNT-1 .. INV-CNT-3."""
    mem = k.mem
    mem.check()
    k.slab.check()
    refs: Counter[int] = Counter()
    vms = [va.vm for va in k.kva.busy if va.vm is not None] + k.vmalloc.leaked_vms
    for vm in vms:
        refs.update(_vm_pages(vm))
    marked = 0
    pages: list[tuple[int, str, bool]] = [(pfn, b.owner, b.vmalloc) for pfn, b in mem.blocks.items()]
    for first, n, sb in mem.lazy_runs():       # the pages of split blocks without a Block
        pages += [(pfn, sb.owner, sb.vmalloc) for pfn in range(first, first + n)]
    for pfn, owner, is_marked in pages:
        n = refs.get(pfn, 0)
        if owner == OWNER_VMALLOC and n != 1:
            raise _fail("INV-PG-3", f"vmalloc page {pfn:#x} belongs to {n} areas")
        if owner != OWNER_VMALLOC and n:
            raise _fail("INV-PG-3", f"{owner} page {pfn:#x} also belongs to a vmalloc area")
        if is_marked:
            marked += 1
            if owner != OWNER_VMALLOC:
                raise _fail("INV-CNT-1", f"page {pfn:#x} is vmalloc-marked but owned by {owner}")
    if marked != mem.nr_vmalloc:
        raise _fail("INV-CNT-1", f"NR_VMALLOC {mem.nr_vmalloc} != {marked} marked frames")
    per_order = Counter(order for _, order in mem.free_blocks())
    free_kb = sum(n << order for order, n in per_order.items()) * 4
    line = meminfo(k).splitlines()[1]
    if int(line.split()[1]) != free_kb:
        raise _fail("INV-PG-2", f"{line.strip()} but the free blocks hold {free_kb} kB")
    shown = [int(n) for n in buddyinfo(k).split()[4:]]
    if shown != [per_order.get(order, 0) for order in range(len(shown))]:
        raise _fail("INV-PG-2", f"/proc/buddyinfo {shown} differs from the free blocks")


def check_memcg(k: Machine) -> None:
    """INV-CG-1 .. INV-CG-3."""
    usage: Counter[int] = Counter()
    vmalloc: Counter[int] = Counter()
    charged = [(b.memcg, 1 << b.order, int(b.vmalloc)) for b in k.mem.blocks.values()]
    charged += [(sb.memcg, n, n if sb.vmalloc else 0) for _, n, sb in k.mem.lazy_runs()]
    for memcg, n, nr_marked in charged:
        if memcg is None:
            continue
        for cg in memcg.ancestors():
            usage[id(cg)] += n
            vmalloc[id(cg)] += nr_marked
    for cg in k.memcg.walk():
        if cg.parent is None:
            continue
        if cg.nr_pages != usage[id(cg)]:
            raise _fail("INV-CG-1", f"cgroup {cg.path} usage {cg.nr_pages} != {usage[id(cg)]} charged pages")
        if cg.nr_vmalloc != vmalloc[id(cg)]:
            raise _fail("INV-CG-2", f"cgroup {cg.path} vmalloc {cg.nr_vmalloc} != {vmalloc[id(cg)]} pages")
        if cg.max is not None and cg.usage > cg.max and not cg.may_exceed:
            raise _fail("INV-CG-3", f"cgroup {cg.path} usage {cg.usage} exceeds max {cg.max}")


def check_kernel(k: Machine) -> None:
    """Run every checker; the first broken invariant raises :class:`KernelBug`."""
    check_address_space(k)
    check_areas(k)
    check_pages(k)
    check_memcg(k)
    k.pgtable.check_pte_runs()
    k.vb.check()
    if k.kasan is not None:
        k.kasan.check(k.kva.leaked, k.vb.ranges)
