"""``krealloc`` (mm/slub.c) and the kv* family of mm/util.c: ``kvmalloc``, ``kvrealloc``,
``kvfree``, and the pre-v6.12 ``kvrealloc_old`` for comparisons (docs/mm.md#krealloc).

Example (``kvrealloc(p, 0)`` differs by the kind of memory, as in the kernel):
    >>> from kvalloc import Kernel, ZERO_SIZE_PTR
    >>> k = Kernel()
    >>> k.kvrealloc(k.kvmalloc(100), 0) == ZERO_SIZE_PTR, k.kvrealloc(k.kvmalloc(8 << 20), 0)
    (True, None)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..constants import (
    INT_MAX,
    IS_ALIGNED,
    NUMA_NO_NODE,
    PAGE_SIZE,
    VMALLOC_END,
    VMALLOC_START,
    ZERO_SIZE_PTR,
)
from ..gfp import G, gfpflags_allow_blocking, want_init_on_alloc
from ..vm_flags import V

if TYPE_CHECKING:
    from .access import Access
    from .printk import KernelLog
    from .slab import SlabAllocator
    from .vmalloc import VmallocFamily
    from .vrealloc import Resized, Vrealloc


def kmalloc_gfp_adjust(flags: int, size: int) -> int:
    """The kmalloc attempt of kvmalloc: above one page, no warning, no reclaim, no NOFAIL."""
    if size > PAGE_SIZE:
        flags |= G.NOWARN
        if not flags & G.RETRY_MAYFAIL:
            flags &= ~G.DIRECT_RECLAIM
        flags &= ~G.NOFAIL
    return flags


class KvAlloc:
    """krealloc and the kvmalloc family over the slab and vmalloc allocators.

    Each resize returns ``(new pointer, bytes copied)``: the pointer is None on failure.
    """

    def __init__(self, slab: SlabAllocator, vmalloc: VmallocFamily, vrealloc: Vrealloc,
                 access: Access, log: KernelLog, init_on_alloc: bool) -> None:
        self.slab = slab
        self.vmalloc = vmalloc
        self.vrealloc = vrealloc
        self.access = access
        self.log = log
        self.init_on_alloc = init_on_alloc

    def krealloc(self, p: int, new_size: int, flags: int, align: int, nid: int) -> Resized:
        """``krealloc``: in place within ``ksize`` (spare bytes zeroed under init_on_alloc)."""
        slab = self.slab
        if new_size == 0:
            slab.kfree(p)
            return ZERO_SIZE_PTR, 0
        if p == 0 or p == ZERO_SIZE_PTR:
            return slab.kmalloc(new_size, flags), 0
        ks = slab.ksize(p)
        other_node = bool(flags & G.THISNODE) and nid not in (NUMA_NO_NODE, 0)
        if not other_node and new_size <= ks and IS_ALIGNED(p, align):
            if want_init_on_alloc(flags, self.init_on_alloc) and ks > new_size:
                self.access.pgtable.memset(p + new_size, 0, ks - new_size)
            return p, 0
        n = slab.kmalloc(new_size, flags)
        if n is None:
            return None, 0
        copied = self.access.memcpy_nocheck(n, p, min(new_size, ks))
        slab.kfree(p)
        return n, copied

    def kvmalloc(self, size: int, flags: int, align: int, caller: str) -> int | None:
        """``__kvmalloc_node``: kmalloc first, vmalloc (huge allowed) for more than a page."""
        p = self.slab.kmalloc(size, kmalloc_gfp_adjust(flags, size))
        if p is not None or size <= PAGE_SIZE:
            return p
        if size > INT_MAX:
            if not flags & G.NOWARN:
                self.log.WARN_ONCE("__kvmalloc_node_noprof", None, site="__kvmalloc_node_noprof")
            return None
        vm_flags = V.ALLOW_HUGE_VMAP if gfpflags_allow_blocking(flags) else 0
        return self.vmalloc.vmalloc_node_range(size, align, VMALLOC_START, VMALLOC_END, flags,
                                               vm_flags, caller)

    def kvfree(self, p: int) -> None:
        """``kvfree``: vfree for vmalloc addresses, kfree otherwise."""
        if self.vmalloc.is_vmalloc_addr(p):
            self.vmalloc.vfree(p)
        else:
            self.slab.kfree(p)

    def kvrealloc(self, p: int, size: int, flags: int, align: int, nid: int,
                  caller: str) -> Resized:
        """``kvrealloc`` (v6.12+): vrealloc for vmalloc memory, else krealloc then kvmalloc."""
        if p and self.vmalloc.is_vmalloc_addr(p):
            return self.vrealloc.vrealloc(p, size, flags, align, nid, caller)
        n, copied = self.krealloc(p, size, kmalloc_gfp_adjust(flags, size), align, nid)
        if n is None:
            n = self.kvmalloc(size, flags, align, caller)
            if n is None:
                return None, 0
            if p:
                # KASAN disabled around it, as in the kernel
                copied = self.access.memcpy_nocheck(n, p, min(size, self.slab.ksize(p)))
                self.slab.kfree(p)
        return n, copied

    def kvrealloc_old(self, p: int, oldsize: int, newsize: int, flags: int) -> Resized:
        """``kvrealloc`` before v6.12: the caller tracks ``oldsize``; a shrink changes nothing."""
        if oldsize >= newsize:
            return p, 0
        n = self.kvmalloc(newsize, flags, 1, "kvrealloc")
        if n is None:
            return None, 0
        copied = self.access.memcpy(n, p, oldsize, "kvrealloc_noprof") if oldsize else 0
        if p:
            self.kvfree(p)
        return n, copied
