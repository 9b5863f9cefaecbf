"""``vrealloc()`` through its history (mm/vmalloc.c, docs/vrealloc.md).

Each commit of the history is a :class:`~kvalloc.profiles.VreallocProfile` (the table is in
:mod:`kvalloc.profiles`): the previous commit's profile with the fields that commit changed.
One algorithm, :meth:`Vrealloc.vrealloc`, follows the fields; bugs of old commits are
reproduced, not fixed.

What no kernel profile does, as the kernel's own comments in ``vrealloc_node_align_noprof()``
say: a grow past the area's pages never maps more pages into the area ("TODO: Grow the
vm_area, i.e. allocate and map additional pages"), and never extends the area into free
address space after it; it allocates a new area, copies and frees the old one. The what-if
fields (``grow_pages``, ``move``, ``move_keeps_huge``; docs/whatif.md) do exactly these
things, through primitives of :class:`~kvalloc.mm.vmalloc.VmallocFamily` no kernel path uses.

Example (latest profile: a shrink frees the tail pages, docs/vrealloc.md#worked-example):
    >>> from kvalloc import Kernel
    >>> k = Kernel()
    >>> p = k.vmalloc(256 << 10)
    >>> k.vrealloc(p, 16 << 10) == p, k.find_vm_area(p).nr_pages, k.stats().vrealloc_pages_freed
    (True, 4, 60)
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Final, TypeAlias

from ..constants import (
    IS_ALIGNED,
    NUMA_NO_NODE,
    PAGE_ALIGN,
    PAGE_SHIFT,
    PAGE_SIZE,
    VMALLOC_END,
    VMALLOC_START,
)
from ..gfp import G, gfp_has_io_fs, want_init_on_alloc
from ..profiles import KERNEL_PROFILES, VreallocProfile
from ..vm_flags import KASAN_VMALLOC_KEEP_TAG, KASAN_VMALLOC_PROT_NORMAL, KASAN_VMALLOC_VM_ALLOC, V
from .printk import fmt_p

if TYPE_CHECKING:
    from ..config import KernelConfig
    from .access import Access
    from .kasan import Kasan
    from .printk import KernelLog
    from .trace import Trace
    from .vmalloc import VmallocFamily
    from .vmalloc_types import VmStruct

#: Every kernel profile, oldest first (index = number - 1).
PROFILES: Final = KERNEL_PROFILES


#: What a resize returns: the new pointer (None on failure or a free) and the bytes copied.
Resized: TypeAlias = "tuple[int | None, int]"


def profile_of(config: KernelConfig) -> VreallocProfile:
    """The profile a configuration selects."""
    return config.profile


@dataclasses.dataclass
class ResizeStats:
    """The counters of ``vrealloc`` (``Kernel.stats().vrealloc_*``), written only here."""

    calls: int = 0
    shrink: int = 0
    grow_in_place: int = 0
    moved: int = 0
    fresh: int = 0          # of ``moved``: a NULL ``p`` (a first allocation)
    fallthrough: int = 0    # of ``moved``: a0309faf1cb0's in-place grow that reallocated
    bytes_copied: int = 0
    pages_freed: int = 0
    extended: int = 0       # what-if grows that extended the area's range (also grow_in_place)
    refilled: int = 0       # what-if grows that mapped pages within the range (also grow_in_place)
    remapped: int = 0       # what-if moves that remapped the pages (also moved)
    pages_mapped: int = 0   # pages the extended and refilled grows mapped


class Vrealloc:
    """``vrealloc`` of one kernel under its configured profile."""

    def __init__(self, config: KernelConfig, vmalloc: VmallocFamily, access: Access,
                 log: KernelLog, trace: Trace, kasan: Kasan | None) -> None:
        self.profile = profile_of(config)
        self.config = config
        self.vmalloc = vmalloc
        self.access = access
        self.log = log
        self.trace = trace
        self.kasan = kasan
        self.stats = ResizeStats()

    # -- instrumented helpers (KASAN label = the profile's function) --------------------

    def _memset0(self, addr: int, size: int) -> None:
        self.access.memset(addr, 0, size, self.profile.label)

    def _memcpy(self, dst: int, src: int, size: int) -> int:
        copied = self.access.memcpy(dst, src, size, self.profile.label)
        self.stats.bytes_copied += copied
        return copied

    def _emit(self, p: int, old: int, size: int, outcome: str) -> None:
        trace = self.trace
        if "vrealloc" in trace.enabled:
            trace.emit("vrealloc", p=p, old_size=old, new_size=size, outcome=outcome)

    # -- the algorithm ----------------------------------------------------------------

    def vrealloc(self, p: int, size: int, flags: int, align: int, nid: int,
                 caller: str) -> Resized:
        """Resize the vmalloc area at ``p`` to ``size`` bytes: ``(new pointer, bytes copied)``.

        The pointer is None on failure (``p`` kept) and after ``size == 0`` (``p`` freed).
        """
        prof, stats, log = self.profile, self.stats, self.log
        stats.calls += 1
        if not prof.align_and_node:
            align, nid = 1, NUMA_NO_NODE
        if size == 0:
            self.vmalloc.vfree(p)
            self._emit(p, 0, 0, "freed")
            return None, 0
        old = 0
        fell_through = other_node = False
        vm: VmStruct | None = None
        if p:
            vm = self.vmalloc.find_vm_area(p)
            if vm is None:
                log.WARN(prof.label, f"Trying to vrealloc() nonexistent vm area ({fmt_p(p)})\n")
                self._emit(p, 0, size, "failed")
                return None, 0
            if p != vm.addr and self.vmalloc.untag(p) != self.vmalloc.untag(vm.addr):
                vm.kasan_exact = False           # annotated from an interior pointer
            area, nr_pages = vm.area_size, vm.nr_pages
            old = vm.requested_size if prof.old_is_requested else area
            if prof.checks_mismatch and area < vm.requested_size:
                log.WARN(prof.label, f"vrealloc() has mismatched area vs requested sizes ({fmt_p(p)})\n")
                self._emit(p, old, size, "failed")
                return None, 0
            if prof.align_and_node and not IS_ALIGNED(p, align):
                log.WARN(prof.label, f"will not reallocate with a bigger alignment ({align:#x})\n")
                self._emit(p, old, size, "failed")
                return None, 0
            # THISNODE with another node skips both in-place paths; one node here, so only
            # a nid the API rejects could trigger it.
            other_node = (prof.align_and_node and bool(flags & G.THISNODE)
                          and nid not in (NUMA_NO_NODE, 0))
            if not other_node:
                if size <= old:
                    self._shrink(vm, p, old, size, flags)
                    stats.shrink += 1
                    self._emit(p, old, size, "shrink")
                    return p, 0
                limit = nr_pages * PAGE_SIZE if prof.grow_limit_is_nr_pages else area
                if prof.grow_in_place != "none" and size <= limit:
                    self._grow_in_place(vm, p, old, size, flags)
                    if prof.grow_in_place != "unpoison_zero_fallthrough":
                        stats.grow_in_place += 1
                        self._emit(p, old, size, "grow_in_place")
                        return p, 0
                    fell_through = True
                elif prof.grow_pages != "none" and self.vmalloc.can_grow_pages(vm):
                    how = self._grow_pages(vm, p, old, size, flags)
                    if how is not None:
                        self._emit(p, old, size, how)
                        return p, 0
        if vm is not None and prof.move == "remap" and not other_node and \
                self.vmalloc.can_grow_pages(vm):
            return self._remap(vm, p, old, size, flags, align, caller)
        huge = vm is not None and prof.move_keeps_huge and vm.page_order > 0
        n = self._new_area(size, flags, align, caller, huge)
        if n is None:
            self._emit(p, old, size, "failed")
            return None, 0
        copied = 0
        if p:
            copied = self._memcpy(n, p, min(size, old) if prof.copy_min else old)
            self.vmalloc.vfree(p)
        else:
            stats.fresh += 1
        stats.fallthrough += fell_through
        stats.moved += 1
        self._emit(p, old, size, "moved")
        return n, copied

    def _new_area(self, size: int, flags: int, align: int, caller: str,
                  huge: bool = False) -> int | None:
        if huge:                     # what-if move_keeps_huge: as vmalloc_huge_node() asks
            return self.vmalloc.vmalloc_node_range(size, align, VMALLOC_START, VMALLOC_END,
                                                   flags, V.ALLOW_HUGE_VMAP, caller)
        if self.profile.align_and_node:
            return self.vmalloc.vmalloc_node(size, align, flags, caller)
        # __vmalloc_noprof(): its GFP filter (vmalloc_fix_flags) came after these commits
        return self.vmalloc.vmalloc_node(size, 1, flags, "vrealloc_noprof")

    # -- what-ifs (docs/whatif.md) -------------------------------------------------------

    def _grow_pages(self, vm: VmStruct, p: int, old: int, size: int, flags: int) -> str | None:
        """``grow_pages``: map the missing pages in place (extending the range if the profile
        allows), then grow as the profile's in-place grow does; None if it cannot."""
        new_nr = PAGE_ALIGN(size) >> PAGE_SHIFT
        before = vm.nr_pages
        how = self.vmalloc.vm_area_grow(vm, new_nr, flags,
                                        self.profile.grow_pages == "extend_va")
        if how is None:
            return None
        self._grow_in_place(vm, p, old, size, flags)
        stats = self.stats
        stats.grow_in_place += 1
        stats.pages_mapped += new_nr - before
        if how == "extended":
            stats.extended += 1
        else:
            stats.refilled += 1
        return how

    def _remap(self, vm: VmStruct, p: int, old: int, size: int, flags: int, align: int,
               caller: str) -> Resized:
        """``move = "remap"``: the new area maps the old pages; nothing is copied."""
        n = self.vmalloc.vremap_area(vm, size, align, flags, caller)
        if n is None:
            self._emit(p, old, size, "failed")
            return None, 0
        self.stats.moved += 1
        self.stats.remapped += 1
        self._emit(p, old, size, "remapped")
        return n, 0

    def _shrink(self, vm: VmStruct, p: int, old: int, size: int, flags: int) -> None:
        prof, kasan = self.profile, self.kasan
        zero = {"init_on_alloc": want_init_on_alloc(flags, self.config.init_on_alloc),
                "init_on_free": self.config.init_on_free,
                "either": self.config.init_on_free or want_init_on_alloc(flags, self.config.init_on_alloc),
                }[prof.shrink_zero]
        if zero:
            self._memset0(p + size, old - size)
        if prof.shrink_frees_pages:
            self._free_tail_pages(vm, size, flags)
        if prof.shrink_sets_requested:
            vm.requested_size = size
        if kasan is None:
            return
        if prof.shrink_kasan == "poison_then_unpoison":
            kasan.poison_vmalloc(p + size, old - size)
            kasan.unpoison_vmalloc(p, size, KASAN_VMALLOC_PROT_NORMAL)   # new tag discarded
        elif prof.shrink_kasan == "poison":
            kasan.poison_vmalloc(p + size, old - size)
        elif prof.shrink_kasan == "kasan_vrealloc":
            kasan.kasan_vrealloc(p, old, size)

    def _free_tail_pages(self, vm: VmStruct, size: int, flags: int) -> None:
        """Profile 9: unmap and free the pages past ``PAGE_ALIGN(size)`` (docs/vrealloc.md)."""
        new_nr, nr = PAGE_ALIGN(size) >> PAGE_SHIFT, vm.nr_pages
        if (new_nr >= nr or vm.page_order or vm.flags & (V.FLUSH_RESET_PERMS | V.USERMAP)
                or not gfp_has_io_fs(flags)):
            return
        vm.nr_pages = new_nr
        base = self.vmalloc.untag(vm.addr)
        pgtable = self.vmalloc.pgtable
        pgtable.vunmap_range_noflush(base + new_nr * PAGE_SIZE, base + nr * PAGE_SIZE)
        pgtable.flush_tlb_kernel_range(base + new_nr * PAGE_SIZE, base + nr * PAGE_SIZE)
        self.vmalloc.vm_area_free_pages(vm, new_nr, nr)
        self.stats.pages_freed += nr - new_nr

    def _grow_in_place(self, vm: VmStruct, p: int, old: int, size: int, flags: int) -> None:
        mode, kasan = self.profile.grow_in_place, self.kasan
        if mode == "kasan_vrealloc":
            vm.requested_size = size
            if kasan is not None:
                kasan.kasan_vrealloc(p, old, size)
            return
        if kasan is not None:
            kflags = KASAN_VMALLOC_PROT_NORMAL
            if mode == "unpoison_keep_tag":
                kflags |= KASAN_VMALLOC_VM_ALLOC | KASAN_VMALLOC_KEEP_TAG
            kasan.unpoison_vmalloc(p + old, size - old, kflags)     # a new tag is discarded
        if mode in ("unpoison_zero_fallthrough", "unpoison_zero") and \
                want_init_on_alloc(flags, self.config.init_on_alloc):
            self._memset0(p + old, size - old)
        vm.requested_size = size
