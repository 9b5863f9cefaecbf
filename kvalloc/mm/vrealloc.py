"""``vrealloc()`` through its history (mm/vmalloc.c, docs/vrealloc.md).

Each commit of the history is a :class:`VreallocProfile`: the previous commit's profile with
the fields that commit changed, so the table below reads like the git log. One algorithm,
:meth:`Vrealloc.vrealloc`, follows the fields; bugs of old commits are reproduced, not fixed.

What no profile does, as the kernel's own comments in ``vrealloc_node_align_noprof()`` say:
a grow past the area's pages never maps more pages into the area ("TODO: Grow the vm_area,
i.e. allocate and map additional pages"), and never extends the area into free address
space after it; it allocates a new area, copies and frees the old one.

Example (latest profile: a shrink frees the tail pages, docs/vrealloc.md#worked-example):
    >>> from kvalloc import Kernel
    >>> k = Kernel()
    >>> p = k.vmalloc(256 << 10)
    >>> k.vrealloc(p, 16 << 10) == p, k.find_vm_area(p).nr_pages, k.stats().vrealloc_pages_freed
    (True, 4, 60)
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Final, Literal, TypeAlias

from ..constants import IS_ALIGNED, NUMA_NO_NODE, PAGE_ALIGN, PAGE_SHIFT, PAGE_SIZE
from ..gfp import G, gfp_has_io_fs, want_init_on_alloc
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

ShrinkZero = Literal["init_on_alloc", "init_on_free", "either"]
ShrinkKasan = Literal["none", "poison_then_unpoison", "poison", "kasan_vrealloc"]
GrowInPlace = Literal["none", "unpoison_zero_fallthrough", "unpoison_zero", "unpoison",
                      "unpoison_keep_tag", "kasan_vrealloc"]


@dataclasses.dataclass(frozen=True)
class VreallocProfile:
    """What ``vrealloc()`` did right after one commit."""

    number: int
    commit: str
    label: str                     # the function name in WARNs and KASAN reports
    old_is_requested: bool         # old = vm.requested_size (else the page-rounded area size)
    checks_mismatch: bool          # WARN(A < R, "vrealloc() has mismatched area ...")
    align_and_node: bool           # (p, size, align, flags, nid) signature, Align WARN, THISNODE
    shrink_sets_requested: bool
    shrink_zero: ShrinkZero
    shrink_kasan: ShrinkKasan
    grow_in_place: GrowInPlace
    grow_limit_is_nr_pages: bool   # in place while size <= nr_pages * 4096 (else <= A)
    copy_min: bool                 # grow beyond copies min(size, old) (else old)
    shrink_frees_pages: bool

    @property
    def kasan_exact(self) -> bool:
        """KASAN's shadow of a live area covers exactly ``requested_size`` (``kasan_vrealloc``)."""
        return self.shrink_kasan == "kasan_vrealloc"


_P1 = VreallocProfile(1, "3ddc2fefe6f3", "vrealloc_noprof", old_is_requested=False,
                      checks_mismatch=False, align_and_node=False, shrink_sets_requested=False,
                      shrink_zero="init_on_alloc", shrink_kasan="none", grow_in_place="none",
                      grow_limit_is_nr_pages=False, copy_min=False, shrink_frees_pages=False)
_P2 = dataclasses.replace(_P1, number=2, commit="d699440f58ce", shrink_kasan="poison_then_unpoison")
_P3 = dataclasses.replace(_P2, number=3, commit="a0309faf1cb0", old_is_requested=True,
                          checks_mismatch=True, shrink_sets_requested=True,
                          shrink_zero="init_on_free", shrink_kasan="poison",
                          grow_in_place="unpoison_zero_fallthrough")
_P4 = dataclasses.replace(_P3, number=4, commit="f7a35a3c36d1", grow_in_place="unpoison_zero")
_P5 = dataclasses.replace(_P4, number=5, commit="70d1eb031a68", shrink_zero="either",
                          grow_in_place="unpoison")
_P6 = dataclasses.replace(_P5, number=6, commit="4c5d3365882d", label="vrealloc_node_align_noprof",
                          align_and_node=True)
_P7 = dataclasses.replace(_P6, number=7, commit="007f5da43b3d", grow_in_place="unpoison_keep_tag")
_P8 = dataclasses.replace(_P7, number=8, commit="9b47d4eea3f7", shrink_kasan="kasan_vrealloc",
                          grow_in_place="kasan_vrealloc")
_P9 = dataclasses.replace(_P8, number=9, commit="e64f42036ef4", grow_limit_is_nr_pages=True,
                          copy_min=True, shrink_frees_pages=True)

#: Every profile, oldest first (index = number - 1).
PROFILES: Final = (_P1, _P2, _P3, _P4, _P5, _P6, _P7, _P8, _P9)

#: What a resize returns: the new pointer (None on failure or a free) and the bytes copied.
Resized: TypeAlias = "tuple[int | None, int]"


def profile_of(config: KernelConfig) -> VreallocProfile:
    """The profile a configuration selects."""
    return PROFILES[config.vrealloc_profile - 1]


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
        fell_through = False
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
        n = self._new_area(size, flags, align, caller)
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

    def _new_area(self, size: int, flags: int, align: int, caller: str) -> int | None:
        if self.profile.align_and_node:
            return self.vmalloc.vmalloc_node(size, align, flags, caller)
        # __vmalloc_noprof(): its GFP filter (vmalloc_fix_flags) came after these commits
        return self.vmalloc.vmalloc_node(size, 1, flags, "vrealloc_noprof")

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
