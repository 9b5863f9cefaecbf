"""vmalloc interfaces of mm/vmalloc.c: ``vm_struct``, ``__vmalloc_node_range`` and its
entry points, ``vfree``, ``vunmap``, ``vmap``, ``vm_map_ram`` (docs/mm.md#vmalloc).

Invariants (``Kernel.check``):
    - a ``VM_ALLOC`` area has ``1 <= nr_pages <= get_vm_area_size / 4096``, its pages are
      distinct allocated frames, mapped in order (PTEs, or PMD leaves when ``page_order == 9``);
    - the guard page and freed tail pages are unmapped.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, cast

from ..constants import (
    ALIGN,
    MAX_PAGE_ORDER,
    PAGE_SHIFT,
    PAGE_SIZE,
    PMD_SHIFT,
    PMD_SIZE,
    ULONG_MAX,
    VMALLOC_END,
    VMALLOC_START,
    VMAP_MAX_ALLOC,
    VMAP_RAM,
    ilog2,
    is_vmalloc_addr,
)
from ..gfp import GFP_RECLAIM_MASK, GFP_VMALLOC_SUPPORTED, G, format_gfp, gfpflags_allow_blocking
from ..vm_flags import KASAN_VMALLOC_PROT_NORMAL, KASAN_VMALLOC_VM_ALLOC, V
from .page_alloc import OWNER_VMALLOC, Block, SplitBlock
from .printk import fmt_p
from .vmalloc_types import PageArray, VmStruct

if TYPE_CHECKING:
    from ..config import KernelConfig
    from .kasan import Kasan
    from .memcontrol import Cgroup, MemCgroups
    from .page_alloc import PageAllocator
    from .pgtable import PageTable
    from .printk import KernelLog
    from .slab import SlabAllocator
    from .vmalloc_types import VmapArea
    from .vmap_area import VmapAreaAllocator
    from .vmap_block import VmapBlocks
    from .workqueue import Workqueue


class VmallocFamily:
    """The vmalloc family over the page allocator, the page table and the KVA allocator."""

    def __init__(self, config: KernelConfig, log: KernelLog, mem: PageAllocator,
                 pgtable: PageTable, kva: VmapAreaAllocator, slab: SlabAllocator,
                 memcg: MemCgroups, kasan: Kasan | None, vb: VmapBlocks,
                 wq: Workqueue) -> None:
        self.config = config
        self.log = log
        self.mem = mem
        self.pgtable = pgtable
        self.kva = kva
        self.slab = slab
        self.memcg = memcg
        self.kasan = kasan
        self.vb = vb
        self.wq = wq
        #: ``pending_vm_area_cleanup``: failed areas awaiting ``cleanup_vm_area_work``
        self.pending_cleanup: list[VmStruct] = []
        self.leaked_vms: list[VmStruct] = []   # removed by vunmap / vm_unmap_ram, pages kept
        # without KASAN there are no tags: int() is the identity on an address, at C speed
        self.untag: Callable[[int], int] = kasan.untag if kasan is not None else int

    def is_vmalloc_addr(self, addr: int) -> bool:
        """``is_vmalloc_addr`` for a possibly tagged address."""
        return is_vmalloc_addr(self.untag(addr))

    # -- area setup -------------------------------------------------------------------

    def get_vm_area_node(self, size: int, align: int, shift: int, flags: int, start: int,
                         end: int, gfp: int, caller: str) -> VmStruct | None:
        """``__get_vm_area_node``: a vm_struct with its KVA (guard page included)."""
        requested = size
        size = (size + (1 << shift) - 1) & -(1 << shift)           # ALIGN(size, 1 << shift)
        if not size:
            return None
        if not flags & V.NO_GUARD:
            size += PAGE_SIZE
        vm = VmStruct(flags, caller, requested)
        va = self.kva.alloc_vmap_area(size, align, start, end, gfp, 0, vm)
        if type(va) is int:
            return None
        if self.kasan is not None and not flags & V.ALLOC:
            vm.addr = self.kasan.unpoison_vmalloc(vm.addr, requested, KASAN_VMALLOC_PROT_NORMAL)
        return vm

    def vmalloc_fix_flags(self, gfp: int) -> int:
        """The GFP filter of ``__vmalloc`` and ``vmalloc_huge_node`` (docs/mm.md#gfp-filter)."""
        invalid = gfp & ~GFP_VMALLOC_SUPPORTED
        if not invalid:
            return gfp
        gfp &= GFP_VMALLOC_SUPPORTED
        self.log.WARN_ONCE(
            "vmalloc_fix_flags",
            f"Unexpected gfp: {invalid:#x} ({format_gfp(invalid)}). Fixing up to gfp: "
            f"{gfp:#x} ({format_gfp(gfp)}). Fix your code!\n", site="vmalloc_fix_flags")
        return gfp

    # -- allocation -------------------------------------------------------------------

    def vmalloc_node_range(self, size: int, align: int, start: int, end: int, gfp: int,
                           vm_flags: int, caller: str) -> int | None:
        """``__vmalloc_node_range``: reserve KVA, allocate and map pages (mm/vmalloc.c).
        Pending deferred work runs first (docs/mm.md#deferred-work)."""
        if self.wq.pending:
            self.wq.run()
        return self._vmalloc_node_range(size, align, start, end, gfp, vm_flags, caller)

    def _vmalloc_node_range(self, size: int, align: int, start: int, end: int, gfp: int,
                            vm_flags: int, caller: str) -> int | None:
        if size == 0:
            self.log.WARN_ONCE("__vmalloc_node_range_noprof", None,
                               site="__vmalloc_node_range_noprof:size")
            return None
        if size >> PAGE_SHIFT > self.mem.nr_frames:
            self.log.warn_alloc(gfp, f"vmalloc error: size {size}, exceeds total pages")
            return None
        shift = PAGE_SHIFT
        original_align = align
        if self.config.huge_vmalloc and vm_flags & V.ALLOW_HUGE_VMAP:
            shift = PMD_SHIFT if size >= PMD_SIZE else PAGE_SHIFT
            align = max(original_align, 1 << shift)
        while True:
            vm = self.get_vm_area_node(size, align, shift, V.ALLOC | V.UNINITIALIZED | vm_flags,
                                       start, end, gfp, caller)
            if vm is None:
                nofail = bool(gfp & G.NOFAIL)
                self.log.warn_alloc(gfp, f"vmalloc error: size {size}, vm_struct allocation "
                                         f"failed{'. Retrying.' if nofail else ''}")
                if nofail:
                    raise self.log.BUG("__vmalloc_node_range_noprof",
                                       "__GFP_NOFAIL vmalloc cannot find address space")
            elif self.vmalloc_area_node(vm, gfp, shift):
                if self.kasan is not None:
                    vm.addr = self.kasan.unpoison_vmalloc(
                        vm.addr, size, KASAN_VMALLOC_PROT_NORMAL | KASAN_VMALLOC_VM_ALLOC)
                vm.flags &= ~V.UNINITIALIZED
                return vm.addr
            if shift > PAGE_SHIFT:
                shift, align = PAGE_SHIFT, original_align
                continue
            return None

    def vmalloc_node(self, size: int, align: int, gfp: int, caller: str) -> int | None:
        """``__vmalloc_node``: no GFP filter, default range."""
        return self.vmalloc_node_range(size, align, VMALLOC_START, VMALLOC_END, gfp, 0, caller)

    def vmalloc(self, size: int, gfp: int, caller: str) -> int | None:
        """``__vmalloc``: GFP filter, then ``__vmalloc_node`` (default range)."""
        if gfp & ~GFP_VMALLOC_SUPPORTED:
            gfp = self.vmalloc_fix_flags(gfp)
        if self.wq.pending:                       # as vmalloc_node_range, one call less
            self.wq.run()
        return self._vmalloc_node_range(size, 1, VMALLOC_START, VMALLOC_END, gfp, 0, caller)

    def vmalloc_huge(self, size: int, gfp: int, caller: str) -> int | None:
        """``vmalloc_huge_node``: GFP filter, PMD mappings allowed."""
        return self.vmalloc_node_range(size, 1, VMALLOC_START, VMALLOC_END,
                                       self.vmalloc_fix_flags(gfp), V.ALLOW_HUGE_VMAP, caller)

    def vmalloc_area_node(self, vm: VmStruct, gfp: int, page_shift: int) -> bool:
        """``__vmalloc_area_node``: page array, pages, mapping; cleans up on failure."""
        nr_small_pages = (vm.size if vm.flags & V.NO_GUARD else vm.size - PAGE_SIZE) >> PAGE_SHIFT
        if not gfp & (G.DMA | G.DMA32):
            gfp |= G.HIGHMEM
        pages_addr = self._alloc_pages_array(nr_small_pages, gfp, vm.caller)
        if not pages_addr:
            self.log.warn_alloc(gfp, f"vmalloc error: size {nr_small_pages * PAGE_SIZE}, "
                                     f"failed to allocated page array size {nr_small_pages * 8}")
            self._fail(vm)
            return False
        vm.pages_addr = pages_addr
        vm.pages = PageArray(self.mem, nr_small_pages)
        vm.page_order = page_shift - PAGE_SHIFT
        page_gfp = gfp | G.NOWARN                 # _page_gfp(), inlined
        if vm.page_order or not page_gfp & G.DIRECT_RECLAIM:
            page_gfp &= ~G.NOFAIL
        vm.nr_pages = self.vm_area_alloc_pages(page_gfp, vm.page_order, nr_small_pages, vm.pages)
        if vm.nr_pages != nr_small_pages:
            if not vm.page_order:             # the size of the pages it did get
                self.log.warn_alloc(gfp, f"vmalloc error: size {vm.nr_pages * PAGE_SIZE}, "
                                         "failed to allocate pages")
            self._fail(vm)
            return False
        if not self.pgtable.vmap_pages_range(self.untag(vm.addr), vm.pages.pfns(), page_shift):
            if gfp & G.NOFAIL and gfpflags_allow_blocking(gfp):
                raise self.log.BUG("__vmalloc_area_node", "__GFP_NOFAIL mapping cannot succeed")
            self.log.warn_alloc(gfp, f"vmalloc error: size {vm.nr_pages * PAGE_SIZE}, "
                                     "failed to map pages")
            self._fail(vm)
            return False
        return True

    def _alloc_pages_array(self, nr_small_pages: int, gfp: int, caller: str,
                           kmalloc_first: bool = False) -> int | None:
        """The page array of ``__vmalloc_area_node``: kmalloc up to a page, else a nested
        vmalloc (no deferred work runs inside it). ``kmalloc_first`` (what-ifs) tries
        kmalloc at every size first, as ``kvmalloc`` does."""
        nested_gfp = (gfp & GFP_RECLAIM_MASK) | G.ZERO
        array_size = nr_small_pages * 8
        if kmalloc_first and array_size > PAGE_SIZE:
            addr = self.slab.kmalloc(array_size, nested_gfp | G.NOWARN | G.NORETRY)
            if addr:
                return addr
        if array_size > PAGE_SIZE:
            return self._vmalloc_node_range(array_size, 1, VMALLOC_START, VMALLOC_END,
                                            nested_gfp, 0, caller)
        return self.slab.kmalloc(array_size, nested_gfp)

    def _free_pages_array(self, pages_addr: int) -> None:
        """``kvfree`` of a page array, kmalloc'd or vmalloc'd."""
        if VMALLOC_START <= self.untag(pages_addr) < VMALLOC_END:        # is_vmalloc_addr
            self.vfree(pages_addr)
        else:
            self.slab.kfree(pages_addr)

    def _fail(self, vm: VmStruct) -> None:
        """``defer_vm_area_cleanup``: the failed area keeps its address space and whatever
        pages it got until ``cleanup_vm_area_work`` runs (docs/mm.md#deferred-work)."""
        self.pending_cleanup.append(vm)
        self.wq.schedule_work("cleanup_vm_area", self.cleanup_vm_area_work)

    def cleanup_vm_area_work(self) -> None:
        """``cleanup_vm_area_work``: free the failed areas, newest first (an ``llist``):
        ``free_vm_area`` without a page array, ``vfree`` with one."""
        pending, self.pending_cleanup = self.pending_cleanup, []
        for vm in reversed(pending):
            if vm.pages is None:
                self.free_vm_area(vm)
            else:
                self.vfree(vm.addr)

    def vm_area_alloc_pages(self, gfp: int, order: int, nr_pages: int,
                            pages: PageArray) -> int:
        """Fill ``pages`` large-order first, then in bulk, then one block at a time. A
        large block is split lazily (one :class:`SplitBlock`, one run of slots), so the
        Python work is O(blocks), not O(pages)."""
        mem = self.mem
        memcg, account, record = self.memcg, self.account_vmalloc, self._record_pages
        nr = 0
        cap = MAX_PAGE_ORDER
        large = min(cap, ilog2(nr_pages)) if nr_pages > 1 else 0
        large_gfp = gfp & ~(G.DIRECT_RECLAIM | G.NOFAIL)
        while large > order and nr < nr_pages:
            block = mem.alloc_pages(large_gfp, large, OWNER_VMALLOC)
            if block is None:
                cap = large = large - 1
                continue
            nr += record(pages, nr, block, large)
            if nr < nr_pages:
                large = min(cap, ilog2(nr_pages - nr))
        if order == 0:
            while nr < nr_pages:
                want = min(100, nr_pages - nr)
                got = mem.alloc_pages_bulk(gfp, want, OWNER_VMALLOC)
                for b in got:
                    b.vmalloc = True               # mark_vmalloc
                    if b.memcg is not None:
                        memcg.mod_vmalloc(b.memcg, 1)
                account(None, len(got))           # the memcgs were counted page by page
                pages.set_blocks(nr, got)
                nr += len(got)
                if len(got) < want:
                    break
        while nr < nr_pages:
            block = mem.alloc_pages(gfp, order, OWNER_VMALLOC)
            if block is None:
                break
            nr += record(pages, nr, block, order)
        return nr

    def _record_pages(self, pages: PageArray, nr: int, block: Block, k: int) -> int:
        """Put an order-``k`` block in slots ``nr ..`` of ``pages``, marked and counted in
        ``NR_VMALLOC``; returns its page count."""
        n = 1 << k
        if k:
            sb = self.mem.split_page_lazy(block)
            sb.owner = OWNER_VMALLOC
            sb.vmalloc = True                      # mark_vmalloc, counted once for the run
            pages.set_run(nr, n, sb.pfn, sb)
        else:
            block.owner = OWNER_VMALLOC
            block.vmalloc = True
            pages.set_blocks(nr, (block,))
        self.account_vmalloc(block.memcg, n)
        return n

    def account_vmalloc(self, cg: Cgroup | None, n: int) -> None:
        """Add ``n`` pages (fewer when negative) to ``NR_VMALLOC`` and to ``cg``'s
        ``vmalloc`` statistic: the one place the count changes."""
        self.mem.nr_vmalloc += n
        if cg is not None:
            self.memcg.mod_vmalloc(cg, n)

    def mark_vmalloc(self, b: Block) -> None:
        """Count a page in ``NR_VMALLOC`` (and its memcg's ``vmalloc`` statistic)."""
        b.vmalloc = True
        self.account_vmalloc(b.memcg, 1)

    def unmark_vmalloc(self, b: Block) -> None:
        """Undo :meth:`mark_vmalloc` when the page is freed."""
        if b.vmalloc:
            b.vmalloc = False
            self.account_vmalloc(b.memcg, -1)

    # -- freeing ----------------------------------------------------------------------

    def remove_vm_area(self, addr: int) -> VmStruct | None:
        """Unlink the area at ``addr``, poison it, unmap it and free its VA lazily."""
        if addr & (PAGE_SIZE - 1):
            self.log.WARN("remove_vm_area", f"Trying to vfree() bad address ({fmt_p(addr)})\n")
            return None
        va = self.kva.find_unlink_vmap_area(self.untag(addr))
        if va is None:
            return None
        vm = va.vm
        if vm is None:
            self.kva.leaked.append(va)
            return None
        if self.kasan is not None:
            self.kasan.poison_vmalloc(vm.addr, vm.area_size)
        self.kva.free_unmap_vmap_area(va)
        vm.va = None
        return vm

    def free_vm_area(self, vm: VmStruct) -> None:
        """``free_vm_area``: remove the area and drop the vm (its pages are not freed)."""
        if self.remove_vm_area(vm.addr) is not vm:
            raise self.log.BUG("free_vm_area", "removed another area")

    def vm_area_free_pages(self, vm: VmStruct, start: int, end: int) -> None:
        """Free ``pages[start:end]``, unmarking them: as the kernel's one ``__free_page`` per
        page, done a run of consecutive frames at a time (the same end state)."""
        assert vm.pages is not None
        self.free_page_slots(vm.pages, start, end, bool(vm.flags & V.MAP_PUT_PAGES))

    def free_page_slots(self, pages: PageArray, start: int, end: int, put: bool,
                        release: bool = True) -> None:
        """Free the pages of slots ``[start, end)`` and empty them, unmarking each unless
        ``put`` (``VM_MAP_PUT_PAGES``: they were never marked). Slots whose frames are
        consecutive, of one memcg and one mark go back as one run (``release=False``: the
        host memory is kept, as one free per page would): O(runs) Python work while the
        pages of split blocks have no Blocks, O(pages) for those that have."""
        mem = self.mem
        segs = pages.segments(start, end)
        if len(segs) == 1:                         # one run (most areas): no grouping
            _, n, pfn, what = segs[0]
            if type(what) is SplitBlock:
                if mem.lazy_run(what, pfn, n):
                    if what.vmalloc and not put:
                        self.account_vmalloc(what.memcg, -n)
                    mem.free_split_run(((what, pfn, n),), release)
                    pages.clear(start, end)
                    return
            elif n == 1:
                b: Block = what[0]                 # type: ignore[index]
                if not put:
                    self.unmark_vmalloc(b)
                mem.free_pages(b)                  # as a run of one page, or a vmap'd block
                pages.clear(start, end)
                return
        group: list[tuple[SplitBlock | Block, int, int]] = []   # (split or block, pfn, n)
        gslot = gpfn = -1
        gcg = None
        gmarked = False
        lazy = True

        def flush() -> None:
            if gmarked and not put:
                self.account_vmalloc(gcg, group[0][1] - gpfn)
            if lazy:
                mem.free_split_run(cast("list[tuple[SplitBlock, int, int]]", group), release)
                return
            run: list[Block] = []
            for what, pfn, k in group:
                if type(what) is SplitBlock:
                    run += [mem.materialize(what, p) for p in range(pfn, pfn + k)]
                else:
                    run.append(cast(Block, what))
            if gmarked and not put:
                for b in run:
                    b.vmalloc = False
            mem.free_pages_run(run, release)

        for at, n, pfn, what in segs:
            if type(what) is SplitBlock and mem.lazy_run(what, pfn, n):
                pieces: list[tuple[int, int, int, SplitBlock | Block]] = [(at, n, pfn, what)]
            else:
                blocks = what if type(what) is list else \
                    [mem.page_block(cast(SplitBlock, what), p) for p in range(pfn, pfn + n)]
                pieces = [(at + i, 1, b.pfn, b) for i, b in enumerate(blocks)]
            for at1, n1, pfn1, one in pieces:
                if type(one) is SplitBlock:
                    cg, marked = one.memcg, one.vmalloc
                else:
                    b = cast(Block, one)
                    if b.order:                    # a vmap'd (VM_MAP_PUT_PAGES) block
                        if group:
                            flush()
                            group = []
                        if not put:
                            self.unmark_vmalloc(b)
                        mem.free_pages(b)
                        continue
                    cg, marked = b.memcg, b.vmalloc
                if not group or at1 != gslot or pfn1 != gpfn or cg is not gcg or \
                        marked is not gmarked:
                    if group:
                        flush()
                    group, gcg, gmarked, lazy = [], cg, marked, True
                group.append((one, pfn1, n1))
                lazy = lazy and type(one) is SplitBlock
                gslot, gpfn = at1 + n1, pfn1 + n1
        if group:
            flush()
        pages.clear(start, end)

    def vfree(self, addr: int) -> None:
        """``vfree``: release the area, its pages and its page array (mm/vmalloc.c: vfree())."""
        if not addr:
            return
        vm = self.remove_vm_area(addr)
        if vm is None:
            self.log.WARN("vfree", f"Trying to vfree() nonexistent vm area ({fmt_p(addr)})\n")
            return
        if vm.flags & V.FLUSH_RESET_PERMS:
            self._flush_reset_perms(vm)
        if vm.pages is not None:                  # vm_area_free_pages(vm, 0, nr_pages)
            self.free_page_slots(vm.pages, 0, vm.nr_pages, bool(vm.flags & V.MAP_PUT_PAGES))
        self.kvfree_pages_array(vm)

    def kvfree_pages_array(self, vm: VmStruct) -> None:
        """Free a vm's page array, kmalloc'd or vmalloc'd."""
        if vm.pages_addr:
            self._free_pages_array(vm.pages_addr)
            vm.pages_addr = 0
        if not vm.flags & V.MAP_PUT_PAGES:
            vm.pages = None

    def _flush_reset_perms(self, vm: VmStruct) -> None:
        """``vm_reset_perms``: ``_vm_unmap_aliases`` over the pages' direct-map range."""
        pfns = vm.pages.pfns(0, vm.nr_pages) if vm.pages is not None else []
        start, end = ULONG_MAX, 0
        if pfns:
            start = self.mem.page_address(min(pfns))
            end = self.mem.page_address(max(pfns)) + PAGE_SIZE
        self.vm_unmap_aliases(start, end, end > 0)

    def vunmap(self, addr: int) -> None:
        """``vunmap``: release the mapping only; the pages stay allocated."""
        if not addr:
            return
        vm = self.remove_vm_area(addr)
        if vm is None:
            self.log.WARN("vunmap", f"Trying to vunmap() nonexistent vm area ({fmt_p(addr)})\n")
            return
        if vm.nr_pages:
            self.leaked_vms.append(vm)

    # -- other mappings ---------------------------------------------------------------

    def vmap(self, blocks: list[Block], vm_flags: int, caller: str) -> int | None:
        """``vmap``: map caller-owned pages (mm/vmalloc.c: vmap())."""
        if self.wq.pending:
            self.wq.run()
        if vm_flags & V.FLUSH_RESET_PERMS:
            self.log.WARN_ONCE("vmap", None, site="vmap:flush_reset_perms")
            return None
        if vm_flags & V.NO_GUARD:
            self.log.WARN_ONCE("vmap", None, site="vmap:no_guard")
            vm_flags &= ~V.NO_GUARD
        if len(blocks) > self.mem.nr_frames:
            return None
        vm = self.get_vm_area_node(len(blocks) * PAGE_SIZE, 1, PAGE_SHIFT, vm_flags,
                                   VMALLOC_START, VMALLOC_END, G.KERNEL, caller)
        if vm is None:
            return None
        if not self.pgtable.vmap_pages_range(self.untag(vm.addr), [b.pfn for b in blocks], PAGE_SHIFT):
            self.vunmap(vm.addr)
            return None
        if vm_flags & V.MAP_PUT_PAGES:
            vm.pages = PageArray(self.mem, len(blocks))
            vm.pages.set_blocks(0, blocks)
            vm.nr_pages = len(blocks)
            for b in blocks:
                b.owner = OWNER_VMALLOC
        return vm.addr

    def vm_map_ram(self, blocks: list[Block]) -> int | None:
        """``vm_map_ram``: up to ``VMAP_MAX_ALLOC`` pages from a per-CPU vmap block
        (``vb_alloc``), more through an area of their own; no vm, no guard page."""
        if self.wq.pending:
            self.wq.run()
        count = len(blocks)
        size = count * PAGE_SIZE
        if count <= VMAP_MAX_ALLOC:
            if not count:
                self.log.WARN_ON("vb_alloc")
                return None
            addr = self.vb.vb_alloc(size, G.KERNEL)
            if addr is None:
                return None
        else:
            va = self.kva.alloc_vmap_area(size, PAGE_SIZE, VMALLOC_START, VMALLOC_END,
                                          G.KERNEL, VMAP_RAM, None)
            if isinstance(va, int):
                return None
            addr = va.va_start
        if not self.pgtable.vmap_pages_range(addr, [b.pfn for b in blocks], PAGE_SHIFT):
            self.vm_unmap_ram(addr, count)
            return None
        if self.kasan is not None:
            addr = self.kasan.unpoison_vmalloc(addr, size, KASAN_VMALLOC_PROT_NORMAL)
        return addr

    def vm_unmap_ram(self, addr: int, count: int) -> None:
        """``vm_unmap_ram``: BUG on a bad address; a block range goes back through
        ``vb_free``, an area of its own is freed lazily (WARN_ON_ONCE if there is none)."""
        a = self.untag(addr)
        if not a or a < VMALLOC_START or a > VMALLOC_END or a & (PAGE_SIZE - 1):
            raise self.log.BUG("vm_unmap_ram", f"bad address {addr:#x}")
        if count <= VMAP_MAX_ALLOC:
            self.vb.vb_lookup(a, count * PAGE_SIZE)          # raises before anything changes
        if self.kasan is not None:
            self.kasan.poison_vmalloc(addr, count * PAGE_SIZE)
        if count <= VMAP_MAX_ALLOC:
            self.vb.vb_free(a, count * PAGE_SIZE)
            return
        va = self.kva.find_unlink_vmap_area(a)
        if va is None:
            self.log.WARN_ONCE("vm_unmap_ram", None, site="vm_unmap_ram:none")
            return
        if va.vm is not None:
            self.leaked_vms.append(va.vm)
        self.kva.free_unmap_vmap_area(va)

    def vm_unmap_aliases(self, start: int = ULONG_MAX, end: int = 0, flush: bool = False) -> None:
        """``_vm_unmap_aliases``: purge fragmented vmap blocks, flush their dirty ranges, and
        purge the lazy areas; one TLB flush over everything (none if nothing needed one)."""
        start, end, dirty = self.vb.unmap_aliases(start, end)
        if not self.kva.purge(start, end) and (flush or dirty):
            self.pgtable.flush_tlb_kernel_range(start, end)

    # -- what-if primitives (docs/whatif.md): no kernel function does these ------------

    def _alloc_small_pages(self, gfp: int, n: int) -> PageArray | None:
        """``n`` order-0 vmalloc pages, as ``__vmalloc_area_node`` asks for them; None, with
        every page obtained given back, if they cannot all be had."""
        if not gfp & (G.DMA | G.DMA32):
            gfp |= G.HIGHMEM
        got = PageArray(self.mem, n)
        nr = self.vm_area_alloc_pages(_page_gfp(gfp, 0), 0, n, got)
        if nr < n:
            self._free_blocks(got)
            return None
        return got

    def _free_blocks(self, pages: PageArray) -> None:
        """Give back vmalloc pages no area holds (a what-if's failed attempt)."""
        self.free_page_slots(pages, 0, len(pages), False, release=False)

    @staticmethod
    def can_grow_pages(vm: VmStruct) -> bool:
        """Whether :meth:`vm_area_grow` and :meth:`vremap_area` apply: an ordinary
        small-page ``VM_ALLOC`` area with a guard page."""
        return (vm.va is not None and vm.pages is not None and not vm.page_order
                and bool(vm.flags & V.ALLOC)
                and not vm.flags & (V.FLUSH_RESET_PERMS | V.USERMAP | V.NO_GUARD))

    def vm_area_grow(self, vm: VmStruct, new_nr: int, gfp: int, extend: bool) -> str | None:
        """Map pages ``nr_pages .. new_nr`` of ``vm`` in place (:meth:`can_grow_pages` holds),
        first extending its range into the free space after it when ``extend`` allows and
        the area is too small (the guard page moves to the new end).

        Returns ``"extended"`` or ``"refilled"``; None, with nothing changed, when the range
        cannot be extended or pages cannot be had. O(pages added + log areas).
        """
        va, nr = cast("VmapArea", vm.va), vm.nr_pages
        pages = cast(PageArray, vm.pages)
        grow_va = (new_nr << PAGE_SHIFT) - vm.area_size
        old_end = va.va_end
        pages_addr: int | None = 0
        if grow_va > 0:
            if not extend or not self.kva.extend_vmap_area(va, old_end + grow_va, VMALLOC_END):
                return None
            # kmalloc first: a nested vmalloc would land in the range the area grows into
            pages_addr = self._alloc_pages_array(new_nr, gfp, vm.caller, kmalloc_first=True)
            if not pages_addr:
                self.kva.trim_vmap_area(va, old_end)
                return None
        blocks = self._alloc_small_pages(gfp, new_nr - nr)
        if blocks is None:
            if pages_addr:
                self._free_pages_array(pages_addr)
                self.kva.trim_vmap_area(va, old_end)
            return None
        base = self.untag(vm.addr)
        if not self.pgtable.vmap_pages_range(base + (nr << PAGE_SHIFT), blocks.pfns(), PAGE_SHIFT):
            raise self.log.BUG("vm_area_grow", "the pages after nr_pages are mapped")
        if pages_addr:
            self._free_pages_array(vm.pages_addr)
            vm.pages_addr = pages_addr
            vm.size += grow_va
            if new_nr > len(pages):
                pages.resize(new_nr)
        pages.put(nr, blocks)
        vm.nr_pages = new_nr
        return "extended" if grow_va > 0 else "refilled"

    def vremap_area(self, vm: VmStruct, size: int, align: int, gfp: int,
                    caller: str) -> int | None:
        """Move ``vm`` (:meth:`can_grow_pages` holds) to a new small-page area of ``size``
        bytes without copying: the new area maps ``vm``'s pages first, then fresh ones; ``vm``
        is unmapped, its range flushed from the TLB (its pages live on) and freed lazily,
        and its page array freed. Pending deferred work runs first.

        Returns the new address; None, with nothing changed, on failure. O(pages).
        """
        if self.wq.pending:
            self.wq.run()
        nr, new_nr = vm.nr_pages, ALIGN(size, PAGE_SIZE) >> PAGE_SHIFT
        blocks = self._alloc_small_pages(gfp, new_nr - nr)
        if blocks is None:
            return None
        new = self.get_vm_area_node(size, align, PAGE_SHIFT, V.ALLOC | V.UNINITIALIZED,
                                    VMALLOC_START, VMALLOC_END, gfp, caller)
        pages_addr = None if new is None else self._alloc_pages_array(new_nr, gfp, caller)
        if new is None or not pages_addr:
            if new is not None:
                self.kva.free_vmap_area(cast("VmapArea", new.va))
            self._free_blocks(blocks)
            return None
        old_pages = cast(PageArray, vm.pages)
        pages = new.pages = PageArray(self.mem, new_nr)
        pages.put(0, old_pages, 0, nr)
        pages.put(nr, blocks)
        new.pages_addr = pages_addr
        new.nr_pages = new_nr
        if not self.pgtable.vmap_pages_range(self.untag(new.addr), pages.pfns(), PAGE_SHIFT):
            raise self.log.BUG("vremap_area", "a new area is mapped")
        old_start = self.untag(vm.addr)
        old_end = old_start + vm.size
        self.remove_vm_area(vm.addr)
        self.pgtable.flush_tlb_kernel_range(old_start, old_end)
        vm.pages = PageArray(self.mem, len(old_pages))
        vm.nr_pages = 0
        self.kvfree_pages_array(vm)
        if self.kasan is not None:
            new.addr = self.kasan.unpoison_vmalloc(
                new.addr, size, KASAN_VMALLOC_PROT_NORMAL | KASAN_VMALLOC_VM_ALLOC)
        new.flags &= ~V.UNINITIALIZED
        return new.addr

    # -- lookups ----------------------------------------------------------------------

    def find_vm_area(self, addr: int) -> VmStruct | None:
        """The vm of the busy area containing ``addr``."""
        va = self.kva.find_vmap_area(self.untag(addr))
        return None if va is None else va.vm


def _page_gfp(gfp: int, order: int) -> int:
    """The flags ``__vmalloc_area_node`` asks for an area's pages with: no warning, and no
    ``__GFP_NOFAIL`` for huge pages or a request that cannot block."""
    gfp |= G.NOWARN
    if order or not gfpflags_allow_blocking(gfp):
        gfp &= ~G.NOFAIL
    return gfp
