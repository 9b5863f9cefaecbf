"""One simulated machine: every part of ``mm/`` built in boot order and wired together.

:class:`Machine` is the only place that knows how the parts connect (the counterpart of the
kernel's ``mm_core_init()`` and ``vmalloc_init()``); each part is handed the collaborators
it needs and never the whole machine. It is the documented internal handle behind the
public facade (``Kernel.machine``): tools and tests may use it, users should not need to.

Guarantees: every part is built once and never replaced; ``lock`` serialises every public
call of the facade and every allocator-layer resize.

Example:
    >>> from kvalloc import KernelConfig
    >>> m = Machine(KernelConfig())
    >>> p = m.vmalloc.vmalloc(5001, 0xCC0, "vmalloc")
    >>> m.realloc("vrealloc", p, 9000, 0xCC0, 1, -1, "vrealloc")[1]   # moved: 5001 bytes copied
    5001
"""

from __future__ import annotations

import random
import threading
from typing import Literal

from ..config import KernelConfig
from ..constants import PAGE_SIZE, ZERO_SIZE_PTR
from .access import Access
from .fault_inject import FaultInjection
from .kasan import Kasan
from .memcontrol import MemCgroups
from .page_alloc import PageAllocator
from .pgtable import PageTable
from .printk import KernelLog
from .slab import SlabAllocator
from .trace import Trace
from .util import KvAlloc
from .vmalloc import VmallocFamily
from .vmalloc_types import SortedVAs
from .vmap_area import VmapAreaAllocator, nr_vmap_nodes
from .vmap_block import VmapBlocks
from .vrealloc import Resized, Vrealloc, profile_of
from .workqueue import Workqueue

#: The three resize functions of the kernel, as ``rust/kernel/alloc/allocator.rs`` names them.
ReallocKind = Literal["krealloc", "vrealloc", "kvrealloc"]


class Machine:
    """Every part of one simulated machine, in boot order."""

    def __init__(self, config: KernelConfig) -> None:
        self.config = config
        self.profile = profile_of(config)
        self.lock = threading.RLock()
        self.nr_resize_calls = 0                 # WorkCounts.resize_calls
        self.log = KernelLog(config.panic_on_warn)
        self.trace = Trace()
        self.fault = FaultInjection(config.seed, self.log)
        self.memcg = MemCgroups()
        self.mem = PageAllocator(config.ram, config.init_on_alloc, config.init_on_free, self.log,
                                 self.fault, self.memcg, config.release_host_memory)
        self.mem.lock = self.lock
        self.pgtable = PageTable(self.mem, self.log)
        busy = SortedVAs()
        self.kasan: Kasan | None = None
        if config.kasan != "off":
            self.kasan = Kasan(config, self.log, busy, self.pgtable, self.mem,
                               exact=self.profile.kasan_exact)
        self.wq = Workqueue()
        self.kva = VmapAreaAllocator(self.log, self.trace, self.pgtable, config.lazy_max, busy,
                                     self.kasan, self.wq, nr_vmap_nodes(config.cpus))
        self.slab = SlabAllocator(self.mem, self.fault, self.log, config.init_on_alloc,
                                  config.init_on_free)
        self.access = Access(self.pgtable, self.mem, self.kasan, self.lock)
        self.untag = self.access.untag
        self.vb = VmapBlocks(self.log, self.pgtable, self.kva, self.slab)
        self.vmalloc = VmallocFamily(config, self.log, self.mem, self.pgtable, self.kva,
                                     self.slab, self.memcg, self.kasan, self.vb, self.wq)
        self.vrealloc = Vrealloc(config, self.vmalloc, self.access, self.log, self.trace,
                                 self.kasan)
        self.kv = KvAlloc(self.slab, self.vmalloc, self.vrealloc, self.access, self.log,
                          config.init_on_alloc)
        #: The random numbers of workloads (the lib/test_vmalloc.c runner), seeded
        #: (docs/mm.md#randomness).
        self.workload_rng = random.Random(config.seed)

    def realloc(self, kind: ReallocKind, p: int, size: int, flags: int, align: int, nid: int,
                caller: str) -> Resized:
        """The one resize entry: ``(new pointer or None, bytes copied)``; arguments valid.

        Callers hold :attr:`lock`. O(1) in place; O(size) on a move.
        """
        self.nr_resize_calls += 1
        if kind == "vrealloc":
            return self.vrealloc.vrealloc(p, size, flags, align, nid, caller)
        if kind == "kvrealloc":
            return self.kv.kvrealloc(p, size, flags, align, nid, caller)
        return self.kv.krealloc(p, size, flags, align, nid)

    def allocation(self, p: int) -> tuple[int, str]:
        """What the kernel really holds for the allocation at ``p``: ``(bytes, backing)``.

        ``bytes`` is ``ksize()`` of a kmalloc object (its size class, or a large block's
        pages) or the mapped pages of a vmalloc area times ``PAGE_SIZE``; ``backing`` is
        ``"kmalloc"``, ``"vmalloc"`` or ``"vmalloc_huge"`` (PMD-sized pages). ``(0, "")`` for
        NULL, ``ZERO_SIZE_PTR`` or an address no allocation starts at or lies in. Callers
        hold :attr:`lock`. O(log areas).
        """
        if not p or p == ZERO_SIZE_PTR:
            return 0, ""
        block = self.slab.large.get(p)          # a large kmalloc: the studies' usual case
        if block is not None:
            return PAGE_SIZE << block.order, "kmalloc"
        if self.vmalloc.is_vmalloc_addr(p):
            vm = self.vmalloc.find_vm_area(p)
            if vm is None:
                return 0, ""
            return vm.nr_pages * PAGE_SIZE, "vmalloc_huge" if vm.page_order else "vmalloc"
        if self.slab.is_live(p):
            return self.slab.ksize(p), "kmalloc"
        return 0, ""

    def work_counts(self) -> tuple[int, ...]:
        """The cumulative work counters in ``WorkCounts.FIELDS`` order, as plain ints
        (``Kernel.work`` names them; docs/cost_model.md#counting-the-work-kernelwork). O(1)."""
        mem, pt, kva = self.mem, self.pgtable, self.kva
        flushes = pt.nr_tlb_flushes
        return (self.access.nr_bytes_copied,
                mem.nr_bytes_zeroed + pt.nr_bytes_zeroed + self.slab.nr_bytes_zeroed,
                mem.nr_pages_allocated, mem.nr_pages_freed, pt.nr_ptes_mapped,
                pt.nr_ptes_unmapped, pt.nr_pmds_mapped, pt.nr_pmds_unmapped, flushes,
                flushes * (self.config.cpus - 1), kva.nr_lazy_purged, kva.nr_va_allocs,
                self.nr_resize_calls)
