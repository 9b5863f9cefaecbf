"""``Kernel``: one simulated machine and the public kernel-layer API (docs/guide.md#kernel).

Every public method validates its arguments (``TypeError`` for a wrong type, ``ValueError``
for an out-of-domain value), takes the kernel lock, and then behaves like the kernel function
it is named after: a request the kernel would refuse returns ``None`` with the kernel's
warning in :attr:`Kernel.dmesg`.

Example:
    >>> from kvalloc import Kernel
    >>> k = Kernel()
    >>> p = k.vmalloc(5001)
    >>> print(k.vmallocinfo(), end="")
    0xffffc90000000000-0xffffc90000003000   12288 vmalloc pages=2 vmalloc N0=2
    >>> k.write(p, b"hello"); k.read(p, 5)
    b'hello'
    >>> k.vfree(p); k.check()
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, TypeVar, cast

from ._validate import require_int, require_str
from .config import KernelConfig
from .constants import NUMA_NO_NODE, PAGE_SHIFT, U64_LIMIT, is_vmalloc_addr
from .cost_model import WorkCounts
from .gfp import GFP, G
from .mm.access import DirectView
from .mm.check import check_kernel
from .mm.machine import Machine
from .mm.page_alloc import OWNER_USER, Block, PageAllocator
from .mm.proc import buddyinfo, meminfo, vmallocinfo
from .vm_flags import VM

if TYPE_CHECKING:
    from .mm.fault_inject import FaultInjection
    from .mm.kasan import KasanReport
    from .mm.memcontrol import MemCgroups
    from .mm.trace import Trace
    from .mm.vmalloc_types import VmStruct

_P = ParamSpec("_P")
_R = TypeVar("_R")


def _locked(fn: Callable[Concatenate[Kernel, _P], _R]) -> Callable[Concatenate[Kernel, _P], _R]:
    """Run the method under the kernel lock (one public call at a time).

    The wrapper is generated with ``fn``'s own parameter list, as :mod:`dataclasses`
    generates ``__init__``: a ``*args, **kwargs`` forwarder costs about 0.3 µs a call in
    packing alone, more than the lock, on calls that take a few µs."""
    params = list(inspect.signature(fn).parameters.values())
    defaults = {f"_d{i}": q.default for i, q in enumerate(params)
                if q.default is not inspect.Parameter.empty}
    sig, call = [], []
    star = False
    for i, q in enumerate(params):
        d = f"=_d{i}" if f"_d{i}" in defaults else ""
        if q.kind is q.VAR_POSITIONAL:
            sig.append(f"*{q.name}")
            call.append(f"*{q.name}")
            star = True
        elif q.kind is q.VAR_KEYWORD:
            sig.append(f"**{q.name}")
            call.append(f"**{q.name}")
        elif q.kind is q.KEYWORD_ONLY:
            if not star:
                sig.append("*")
                star = True
            sig.append(q.name + d)
            call.append(f"{q.name}={q.name}")
        else:
            sig.append(q.name + d)
            call.append(q.name)
            if q.kind is q.POSITIONAL_ONLY and (i + 1 == len(params) or
                                                params[i + 1].kind is not q.POSITIONAL_ONLY):
                sig.append("/")
    first = params[0].name
    src = (f"def {fn.__name__}({', '.join(sig)}):\n"
           f"    lock = {first}.machine.lock\n"
           f"    lock.acquire()\n"
           f"    try:\n"
           f"        return _fn({', '.join(call)})\n"
           f"    finally:\n"
           f"        lock.release()\n")
    namespace: dict[str, Any] = {"_fn": fn, **defaults}
    exec(compile(src, f"<locked Kernel.{fn.__name__}>", "exec"), namespace)
    wrapper = namespace[fn.__name__]
    return cast("Callable[Concatenate[Kernel, _P], _R]", functools.wraps(fn)(wrapper))


def _uint(name: str, value: object, limit: int = U64_LIMIT) -> int:
    """Validate an unsigned argument: an ``int`` (not ``bool``) in ``[0, limit)``."""
    return require_int(name, value, 0, limit)


_GFP_KERNEL = GFP.KERNEL
_GFP_KERNEL_INT = int(GFP.KERNEL)


def _gfp(value: object) -> int:
    return _uint("gfp", value, 1 << 32)


def _node(value: object) -> int:
    node = require_int("node", value)
    if node not in (NUMA_NO_NODE, 0):
        raise ValueError(f"node must be NUMA_NO_NODE (-1) or 0 on this one-node machine, got {node}")
    return node


def _caller(value: object, default: str) -> str:
    return default if value is None else require_str("caller", value)


class Page:
    """Read-only view of one page frame (``struct page``): ``pfn``, ``node``, ``order``, ``refcount``."""

    __slots__ = ("_mem", "pfn")

    def __init__(self, mem: PageAllocator, pfn: int) -> None:
        self._mem = mem
        self.pfn = pfn

    @property
    def node(self) -> int:
        """Always 0: the machine has one node."""
        return 0

    @property
    def order(self) -> int:
        """The order of the allocated block this frame heads (0 for free or tail frames)."""
        b = self._mem.blocks.get(self.pfn)
        return 0 if b is None else b.order

    @property
    def refcount(self) -> int:
        """Reference count: 0 when free."""
        b = self._mem.blocks.get(self.pfn)
        return 0 if b is None else b.refcount

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Page) and other._mem is self._mem and other.pfn == self.pfn

    def __hash__(self) -> int:
        return hash(self.pfn)

    def __repr__(self) -> str:
        return f"Page(pfn={self.pfn:#x}, order={self.order}, refcount={self.refcount})"


@dataclasses.dataclass(frozen=True)
class VmArea:
    """Read-only snapshot of a ``vm_struct`` (``find_vm_area``)."""

    addr: int
    size: int
    nr_pages: int
    requested_size: int
    page_order: int
    flags: VM
    caller: str
    pages: tuple[Page, ...]


@dataclasses.dataclass(frozen=True)
class KernelStats:
    """Counters of the simulated kernel, all recomputable from its state (docs/mm.md#stats)."""

    total_pages: int
    free_pages: int
    nr_vmalloc_pages: int
    vmap_areas: int
    free_vmap_areas: int
    vmap_pooled: int
    pending_work: int
    vmap_lazy_nr: int
    lazy_max_pages: int
    nr_purges: int
    nr_tlb_flushes: int
    slab_pages: int
    vrealloc_calls: int
    vrealloc_shrink: int
    vrealloc_grow_in_place: int
    vrealloc_moved: int
    vrealloc_fresh: int
    vrealloc_fallthrough: int
    vrealloc_bytes_copied: int
    vrealloc_pages_freed: int
    vrealloc_extended: int
    vrealloc_refilled: int
    vrealloc_remapped: int
    vrealloc_pages_mapped: int
    warnings: int
    kasan_reports: int




class Kernel:
    """One simulated x86_64 machine: page frames, page table, KVA, vmalloc and kmalloc.

    Cheap to create: no memory proportional to ``ram`` is touched until used.
    Safe to use from several threads at once (every public call holds one lock).
    """

    def __init__(self, config: KernelConfig | None = None) -> None:
        if config is None:
            config = KernelConfig()
        if not isinstance(config, KernelConfig):
            raise TypeError(f"config must be a KernelConfig, not {type(config).__name__}")
        self.config = config
        #: The simulated machine behind this facade (internal: for tools and tests).
        self.machine = Machine(config)
        m = self.machine
        self.memcg: MemCgroups = m.memcg
        self.fault: FaultInjection = m.fault
        self.trace: Trace = m.trace
        self._vm = m.vmalloc

    def __repr__(self) -> str:
        return f"Kernel({self.config!r})"

    # -- vmalloc family ---------------------------------------------------------------

    @_locked
    def vmalloc(self, size: int, gfp: int = GFP.KERNEL, *, align: int = 1,
                node: int = NUMA_NO_NODE, caller: str | None = None) -> int | None:
        """``vmalloc`` / ``__vmalloc`` (GFP filter) / ``__vmalloc_node`` (``align`` or ``node`` given).

        Virtually contiguous memory with a guard page. O(log n) in the number of areas plus
        O(pages). Returns None (with the kernel's warning) when the kernel would.

        >>> k = Kernel(); p = k.vmalloc(4096)
        >>> hex(p), k.find_vm_area(p).size
        ('0xffffc90000000000', 8192)
        """
        if gfp is _GFP_KERNEL and caller is None and type(size) is int and \
                0 <= size < U64_LIMIT and type(align) is int and align == 1 and \
                type(node) is int and node == NUMA_NO_NODE:
            return self._vm.vmalloc(size, _GFP_KERNEL_INT, "vmalloc")  # the usual call, valid
        size, gfp = _uint("size", size), _gfp(gfp)
        align, node = _uint("align", align), _node(node)
        label = _caller(caller, "vmalloc")
        if align != 1 or node != NUMA_NO_NODE:
            return self._vm.vmalloc_node(size, align, gfp, label)
        return self._vm.vmalloc(size, gfp, label)

    @_locked
    def vzalloc(self, size: int, *, node: int = NUMA_NO_NODE, caller: str | None = None) -> int | None:
        """``vzalloc``: zeroed ``vmalloc``.

        >>> k = Kernel(); k.read(k.vzalloc(16), 4)
        b'\\x00\\x00\\x00\\x00'
        """
        size, _ = _uint("size", size), _node(node)
        return self._vm.vmalloc_node(size, 1, G.KERNEL | G.ZERO, _caller(caller, "vzalloc"))

    @_locked
    def vmalloc_huge(self, size: int, gfp: int = GFP.KERNEL, *, node: int = NUMA_NO_NODE,
                     caller: str | None = None) -> int | None:
        """``vmalloc_huge``: PMD (2 MiB) mappings for sizes of at least 2 MiB, else small pages.

        >>> k = Kernel(); p = k.vmalloc_huge(4 << 20)
        >>> k.find_vm_area(p).page_order, p % (2 << 20)
        (9, 0)
        """
        size, gfp, _ = _uint("size", size), _gfp(gfp), _node(node)
        return self._vm.vmalloc_huge(size, gfp, _caller(caller, "vmalloc_huge"))

    @_locked
    def vmalloc_node_range(self, size: int, align: int, start: int, end: int, gfp: int,
                           vm_flags: int, node: int = NUMA_NO_NODE,
                           caller: str | None = None) -> int | None:
        """``__vmalloc_node_range``: full control over range, alignment and ``VM_*`` flags."""
        size, align = _uint("size", size), _uint("align", align)
        start, end = _uint("start", start), _uint("end", end, U64_LIMIT + 1)
        gfp, vm_flags, _ = _gfp(gfp), _uint("vm_flags", vm_flags, 1 << 32), _node(node)
        return self._vm.vmalloc_node_range(size, align, start, end, gfp, vm_flags,
                                          _caller(caller, "vmalloc_node_range"))

    @_locked
    def vfree(self, p: int | None) -> None:
        """``vfree``: free a vmalloc area; NULL is ignored; a bad address WARNs."""
        if p is None:
            return
        self._vm.vfree(p if type(p) is int and 0 <= p < U64_LIMIT else _uint("p", p))

    @_locked
    def vunmap(self, p: int | None) -> None:
        """``vunmap``: remove a mapping without freeing its pages."""
        if p is None:
            return
        self._vm.vunmap(_uint("p", p))

    @_locked
    def vmap(self, pages: list[Page], vm_flags: int = VM.MAP) -> int | None:
        """``vmap``: map pages the caller owns into one contiguous area (with a guard page)."""
        vm_flags = _uint("vm_flags", vm_flags, 1 << 32)
        blocks = self._blocks(pages)
        if vm_flags & VM.MAP_PUT_PAGES:
            self._check_transfer(blocks)
        return self._vm.vmap(blocks, vm_flags, "vmap")

    @staticmethod
    def _check_transfer(blocks: list[Block]) -> None:
        """``VM_MAP_PUT_PAGES`` hands the pages to the area, which frees them one by one:
        each must be an order-0 page the caller owns, given once."""
        seen: set[int] = set()
        for b in blocks:
            if b.pfn in seen:
                raise ValueError(f"VM_MAP_PUT_PAGES: page pfn {b.pfn:#x} is given twice")
            if b.owner != OWNER_USER:
                raise ValueError(f"VM_MAP_PUT_PAGES: page pfn {b.pfn:#x} is owned by "
                                 f"{b.owner}, not the caller")
            if b.order != 0:
                raise ValueError(f"VM_MAP_PUT_PAGES: pfn {b.pfn:#x} heads an order-{b.order} "
                                 "block; give order-0 pages")
            seen.add(b.pfn)

    @_locked
    def vm_map_ram(self, pages: list[Page], count: int, node: int = NUMA_NO_NODE) -> int | None:
        """``vm_map_ram``: map ``count`` pages without a vm_struct or guard page."""
        count, _ = _uint("count", count), _node(node)
        if count > len(pages):
            raise ValueError(f"count {count} exceeds the {len(pages)} pages given")
        return self._vm.vm_map_ram(self._blocks(list(pages)[:count]))

    @_locked
    def vm_unmap_ram(self, addr: int, count: int) -> None:
        """``vm_unmap_ram``: undo :meth:`vm_map_ram`."""
        self._vm.vm_unmap_ram(_uint("addr", addr), _uint("count", count))

    @_locked
    def vm_unmap_aliases(self) -> None:
        """Purge every lazily freed area now (one TLB flush if there were any). With more
        than one CPU, freed areas of up to 256 pages go to the vmap nodes' pools, not back to
        the free tree (``purge_vmap_node``); :meth:`vmap_node_shrink` empties those. The
        per-CPU vmap blocks of :meth:`vm_map_ram` are flushed too: a block with nothing live
        and under a quarter of its pages unused is freed, the others' freed ranges are flushed
        from the TLB (``_vm_unmap_aliases``)."""
        self.machine.vmalloc.vm_unmap_aliases()

    @_locked
    def run_workqueues(self) -> int:
        """Run the kernel's pending deferred work now: ``drain_vmap_work`` (purge the lazy
        areas once more than ``lazy_max_pages`` pages are lazy) and ``cleanup_vm_area`` (free
        the areas of failed vmalloc attempts). Without this call they run at the start of the
        next vmalloc-family allocation. Returns how many work items ran. O(work).

        >>> k = Kernel(KernelConfig(lazy_max_pages=1)); k.vfree(k.vmalloc(4096))
        >>> k.stats().pending_work, k.run_workqueues(), k.stats().vmap_lazy_nr
        (1, 1, 0)
        """
        return self.machine.wq.run()

    @_locked
    def vmap_node_shrink(self) -> int:
        """The vmap-node shrinker (``vmap_node_shrink_scan``), as memory pressure runs it:
        every node pool goes back to the free tree. Returns how many areas it returned. O(n).

        >>> k = Kernel(KernelConfig(cpus=2)); k.vfree(k.vmalloc(4096)); k.vm_unmap_aliases()
        >>> k.stats().vmap_pooled, k.vmap_node_shrink(), k.stats().vmap_pooled
        (1, 1, 0)
        """
        return self.machine.kva.decay(True)

    # -- resizing ---------------------------------------------------------------------

    @_locked
    def vrealloc(self, p: int | None, size: int, gfp: int = GFP.KERNEL, *, align: int = 1,
                 node: int = NUMA_NO_NODE, caller: str | None = None) -> int | None:
        """``vrealloc`` as of the configured commit (``KernelConfig.vrealloc``).

        Size 0 frees and returns None; NULL allocates; otherwise the kernel decides between an
        in-place shrink or grow and a move (allocate, copy, vfree). On failure None is
        returned and ``p`` stays valid (except where the historic profile's bug said otherwise).

        >>> k = Kernel(); p = k.vmalloc(100)
        >>> k.vrealloc(p, 4000) == p, k.vrealloc(p, 5000) == p
        (True, False)
        """
        p = 0 if p is None else _uint("p", p)
        size, gfp, align, node = _uint("size", size), _gfp(gfp), _uint("align", align), _node(node)
        return self.machine.realloc("vrealloc", p, size, gfp, align, node,
                                    _caller(caller, "vrealloc"))[0]

    @_locked
    def krealloc(self, p: int | None, size: int, gfp: int = GFP.KERNEL, *, align: int = 1,
                 node: int = NUMA_NO_NODE, caller: str | None = None) -> int | None:
        """``krealloc``: in place while ``size <= ksize(p)``, else kmalloc, copy, kfree.

        >>> k = Kernel(); p = k.kmalloc(100)
        >>> k.krealloc(p, 128) == p, k.ksize(k.krealloc(p, 129))
        (True, 192)
        """
        p = 0 if p is None else _uint("p", p)
        size, gfp, align, node = _uint("size", size), _gfp(gfp), _uint("align", align), _node(node)
        return self.machine.realloc("krealloc", p, size, gfp, align, node,
                                    _caller(caller, "krealloc"))[0]

    @_locked
    def kvmalloc(self, size: int, gfp: int = GFP.KERNEL, *, align: int = 1,
                 node: int = NUMA_NO_NODE, caller: str | None = None) -> int | None:
        """``kvmalloc``: kmalloc, falling back to vmalloc above one page.

        >>> k = Kernel(); k.is_vmalloc_addr(k.kvmalloc(4096)), k.is_vmalloc_addr(k.kvmalloc(8 << 20))
        (False, True)
        """
        size, gfp, align, _ = _uint("size", size), _gfp(gfp), _uint("align", align), _node(node)
        return self.machine.kv.kvmalloc(size, gfp, align, _caller(caller, "kvmalloc"))

    @_locked
    def kvzalloc(self, size: int, gfp: int = GFP.KERNEL, *, node: int = NUMA_NO_NODE,
                 caller: str | None = None) -> int | None:
        """``kvzalloc``: zeroed ``kvmalloc``."""
        size, gfp, _ = _uint("size", size), _gfp(gfp), _node(node)
        return self.machine.kv.kvmalloc(size, gfp | G.ZERO, 1, _caller(caller, "kvzalloc"))

    @_locked
    def kvrealloc(self, p: int | None, size: int, gfp: int = GFP.KERNEL, *, align: int = 1,
                  node: int = NUMA_NO_NODE, caller: str | None = None) -> int | None:
        """``kvrealloc`` (v6.12+): ``vrealloc`` for vmalloc memory, else krealloc or kvmalloc."""
        p = 0 if p is None else _uint("p", p)
        size, gfp, align, node = _uint("size", size), _gfp(gfp), _uint("align", align), _node(node)
        return self.machine.realloc("kvrealloc", p, size, gfp, align, node,
                                    _caller(caller, "kvrealloc"))[0]

    @_locked
    def kvrealloc_old(self, p: int | None, oldsize: int, newsize: int,
                      gfp: int = GFP.KERNEL) -> int | None:
        """``kvrealloc`` before v6.12, for comparison: a shrink returns ``p`` untouched."""
        p = 0 if p is None else _uint("p", p)
        oldsize, newsize, gfp = _uint("oldsize", oldsize), _uint("newsize", newsize), _gfp(gfp)
        return self.machine.kv.kvrealloc_old(p, oldsize, newsize, gfp)[0]

    @_locked
    def kvfree(self, p: int | None) -> None:
        """``kvfree``: ``vfree`` for vmalloc addresses, ``kfree`` otherwise."""
        if p is not None:
            self.machine.kv.kvfree(_uint("p", p))

    # -- kmalloc ----------------------------------------------------------------------

    @_locked
    def kmalloc(self, size: int, gfp: int = GFP.KERNEL, *, node: int = NUMA_NO_NODE,
                caller: str | None = None) -> int | None:
        """``kmalloc``: a slab object (up to 8 KiB) or a large kmalloc block (up to 4 MiB).

        >>> k = Kernel(); k.ksize(k.kmalloc(65))
        96
        """
        size, gfp, _ = _uint("size", size), _gfp(gfp), _node(node)
        _caller(caller, "kmalloc")
        return self.machine.slab.kmalloc(size, gfp)

    @_locked
    def kzalloc(self, size: int, gfp: int = GFP.KERNEL, *, node: int = NUMA_NO_NODE,
                caller: str | None = None) -> int | None:
        """``kzalloc``: zeroed ``kmalloc``."""
        size, gfp, _ = _uint("size", size), _gfp(gfp), _node(node)
        _caller(caller, "kzalloc")
        return self.machine.slab.kmalloc(size, gfp | G.ZERO)

    @_locked
    def kfree(self, p: int | None) -> None:
        """``kfree``: NULL and ``ZERO_SIZE_PTR`` are ignored; a non-object raises KernelBug."""
        if p is None:
            return
        self.machine.slab.kfree(_uint("p", p))

    @_locked
    def ksize(self, p: int | None) -> int:
        """``ksize``: the usable size of a kmalloc object (0 for NULL and ZERO_SIZE_PTR)."""
        return 0 if p is None else self.machine.slab.ksize(_uint("p", p))

    # -- page allocator ---------------------------------------------------------------

    @_locked
    def alloc_pages(self, order: int, gfp: int = GFP.KERNEL, *,
                    node: int = NUMA_NO_NODE) -> Page | None:
        """``alloc_pages``: a block of ``2**order`` frames, lowest pfn first. O(log n).

        >>> k = Kernel(); hex(k.alloc_pages(0).pfn)
        '0x100000'
        """
        order, gfp, _ = _uint("order", order), _gfp(gfp), _node(node)
        block = self.machine.mem.alloc_pages(gfp, order, OWNER_USER)
        return None if block is None else Page(self.machine.mem, block.pfn)

    @_locked
    def free_pages(self, page: Page, order: int) -> None:
        """``__free_pages``: give back a block from :meth:`alloc_pages` with its order."""
        order = _uint("order", order)
        block = self._block(page)
        if block.order != order or block.owner != OWNER_USER:
            raise self.machine.log.BUG("__free_pages", f"pfn {page.pfn:#x} is not a caller-owned "
                                               f"order-{order} block")
        self.machine.mem.free_pages(block)

    @_locked
    def alloc_pages_bulk(self, nr: int, gfp: int = GFP.KERNEL, *,
                         node: int = NUMA_NO_NODE) -> list[Page]:
        """``alloc_pages_bulk``: up to ``nr`` order-0 frames; never warns."""
        nr, gfp, _ = _uint("nr", nr), _gfp(gfp), _node(node)
        return [Page(self.machine.mem, b.pfn) for b in self.machine.mem.alloc_pages_bulk(gfp, nr, OWNER_USER)]

    def _block(self, page: object) -> Block:
        if not isinstance(page, Page):
            raise TypeError(f"expected a Page, not {type(page).__name__}")
        if page._mem is not self.machine.mem:
            raise ValueError(f"{page!r} belongs to another Kernel")
        block = self.machine.mem.blocks.get(page.pfn)
        if block is None:
            raise ValueError(f"pfn {page.pfn:#x} is not an allocated block")
        return block

    def _blocks(self, pages: object) -> list[Block]:
        if not isinstance(pages, (list, tuple)):
            raise TypeError(f"pages must be a list of Page, not {type(pages).__name__}")
        blocks = [self._block(p) for p in pages]
        return blocks

    # -- memory access ----------------------------------------------------------------

    @_locked
    def read(self, addr: int, size: int) -> bytes:
        """Read through the page table (KASAN-checked): report first, then the load happens.

        Raises :class:`PageFault` on an unmapped address. O(size).
        """
        addr, size = _uint("addr", addr), _uint("size", size)
        return self.machine.access.read(addr, size, "read")

    @_locked
    def write(self, addr: int, data: bytes | bytearray | memoryview) -> None:
        """Write through the page table (KASAN-checked): report first, then the store happens."""
        addr = _uint("addr", addr)
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"data must be bytes-like, not {type(data).__name__}")
        self.machine.access.write(addr, data, "write")

    @_locked
    def memset(self, addr: int, value: int, size: int) -> None:
        """``memset`` (KASAN-checked like ``__asan_memset``: a report skips the whole fill)."""
        addr, value, size = _uint("addr", addr), _uint("value", value, 256), _uint("size", size)
        self.machine.access.memset(addr, value, size, "memset")

    @_locked
    def memcpy(self, dst: int, src: int, size: int) -> None:
        """``memcpy`` (source checked before destination; a report skips the copy).

        Whole-page slice copies: about the speed of a host ``bytearray`` copy.
        """
        dst, src, size = _uint("dst", dst), _uint("src", src), _uint("size", size)
        self.machine.access.memcpy(dst, src, size, "memcpy")

    def direct_view(self, addr: int, size: int, reuse: DirectView | None = None) -> DirectView:
        """Frame views of ``[addr, addr + size)`` for the containers' fast path (internal API).

        O(pages). Raises :class:`PageFault` if any page is unmapped. ``reuse`` is an earlier
        view of the same address whose frames are still mapped there (an in-place resize):
        then only the pages past it are looked up.

        Safety: the views alias simulated memory the caller must own for as long as it uses
        them; they are not updated when the buffer is freed, unmapped or resized, and every
        access must go through :meth:`DirectView.check_access` when ``view.checked``.
        """
        if type(addr) is not int or type(size) is not int or addr < 0 or size < 0 or \
                addr >= U64_LIMIT or size >= U64_LIMIT:
            addr, size = _uint("addr", addr), _uint("size", size)
        if reuse is not None and type(reuse) is not DirectView and not isinstance(reuse, DirectView):
            raise TypeError(f"reuse must be a DirectView or None, not {type(reuse).__name__}")
        m = self.machine
        with m.lock:                      # as @_locked, without its wrapper on the hot path
            return m.access.direct_view(addr, size, reuse)

    # -- looking inside ---------------------------------------------------------------

    @_locked
    def find_vm_area(self, addr: int) -> VmArea | None:
        """A snapshot of the area containing ``addr`` (interior addresses included), or None."""
        vm = self._vm.find_vm_area(_uint("addr", addr))
        return None if vm is None else self._vm_area(vm)

    def _vm_area(self, vm: VmStruct) -> VmArea:
        mem = self.machine.mem                 # the frames only: no per-page Block is made
        pfns = vm.pages.pfns(0, vm.nr_pages) if vm.pages is not None else []
        pages = tuple(Page(mem, pfn) for pfn in pfns)
        return VmArea(vm.addr, vm.size, vm.nr_pages, vm.requested_size, vm.page_order,
                      VM(vm.flags), vm.caller, pages)

    @_locked
    def vmalloc_to_page(self, addr: int) -> Page | None:
        """The frame mapped at a vmalloc address, or None."""
        a = self.machine.untag(_uint("addr", addr))
        if not is_vmalloc_addr(a):
            return None
        pfn = self.machine.pgtable.translate_vmalloc(a >> PAGE_SHIFT)
        return None if pfn is None else Page(self.machine.mem, pfn)

    def is_vmalloc_addr(self, addr: int) -> bool:
        """``VMALLOC_START <= untag(addr) < VMALLOC_END``."""
        return self._vm.is_vmalloc_addr(_uint("addr", addr))

    @_locked
    def vmallocinfo(self) -> str:
        """``/proc/vmallocinfo``: busy areas in address order, then lazy ones."""
        return vmallocinfo(self.machine)

    @_locked
    def meminfo(self) -> str:
        """The ``/proc/meminfo`` subset (docs/mm.md#meminfo)."""
        return meminfo(self.machine)

    @_locked
    def buddyinfo(self) -> str:
        """``/proc/buddyinfo``: free blocks per order.

        >>> Kernel().buddyinfo().split()
        ['Node', '0,', 'zone', 'Normal', '0', '0', '0', '0', '0', '0', '0', '0', '0', '0', '1024']
        """
        return buddyinfo(self.machine)

    @_locked
    def stats(self) -> KernelStats:
        """Every counter of :class:`KernelStats`. O(1)."""
        m = self.machine
        mem, kva, v = m.mem, m.kva, m.vrealloc.stats
        return KernelStats(
            total_pages=mem.nr_frames, free_pages=mem.nr_free, nr_vmalloc_pages=mem.nr_vmalloc,
            vmap_areas=len(kva.busy), free_vmap_areas=len(kva.free), vmap_pooled=kva.nr_pooled,
            pending_work=len(m.wq.pending), vmap_lazy_nr=kva.vmap_lazy_nr, lazy_max_pages=kva.lazy_max_pages,
            nr_purges=kva.nr_purges, nr_tlb_flushes=m.pgtable.nr_tlb_flushes,
            slab_pages=m.slab.nr_slab_pages, vrealloc_calls=v.calls, vrealloc_shrink=v.shrink,
            vrealloc_grow_in_place=v.grow_in_place, vrealloc_moved=v.moved,
            vrealloc_fresh=v.fresh, vrealloc_fallthrough=v.fallthrough,
            vrealloc_bytes_copied=v.bytes_copied, vrealloc_pages_freed=v.pages_freed,
            vrealloc_extended=v.extended, vrealloc_refilled=v.refilled,
            vrealloc_remapped=v.remapped, vrealloc_pages_mapped=v.pages_mapped,
            warnings=m.log.nr_warnings,
            kasan_reports=0 if m.kasan is None else len(m.kasan.reports))

    @_locked
    def work(self) -> WorkCounts:
        """The work the machine has done since boot (cumulative; ``b - a`` of two snapshots
        is the work between them). O(1).

        Each count is kept by the part that does the work (docs/cost_model.md#counting-the-work-kernelwork):
        ``bytes_copied`` by every memcpy of :class:`~kvalloc.mm.access.Access` (vrealloc
        moves, krealloc and kvrealloc copies, ``Kernel.memcpy``); ``bytes_zeroed`` by every
        ``memset(.., 0, ..)`` through the page table, every slab object zeroed whole
        (``__GFP_ZERO`` / ``init_on_alloc`` / ``init_on_free``) and every page the page
        allocator clears for them (whole pages); ``pages_*`` by the buddy allocator
        (``1 << order`` per block); ``ptes_*`` / ``pmds_*`` by the page table; the TLB
        flushes by ``flush_tlb_kernel_range``, each interrupting the ``cpus - 1`` other
        CPUs; the vmap-area counts by the KVA allocator.

        One ``vmalloc(4096)`` takes a page for the data and a ``kmalloc-8`` slab page for
        its zeroed page array; ``vfree`` unmaps the PTE at once and frees both pages, and
        the purge of ``vm_unmap_aliases`` flushes the TLB and returns the lazy area:

        >>> k = Kernel(); before = k.work(); p = k.vmalloc(4096); w = k.work() - before
        >>> w.pages_allocated, w.bytes_zeroed, w.ptes_mapped, w.vmap_area_allocs
        (2, 8, 1, 1)
        >>> k.vfree(p); k.vm_unmap_aliases(); w = k.work() - before
        >>> w.pages_freed, w.ptes_unmapped, w.tlb_flushes, w.tlb_shootdown_cpus, w.lazy_areas_purged
        (2, 1, 1, 1, 1)
        """
        return WorkCounts(**dict(zip(WorkCounts.FIELDS, self.machine.work_counts())))

    @property
    def dmesg(self) -> list[str]:
        """Every line the kernel logged, oldest first (a copy)."""
        with self.machine.lock:
            return list(self.machine.log.lines)

    @property
    def kasan_reports(self) -> list[KasanReport]:
        """Every KASAN report, oldest first (empty with KASAN off)."""
        m = self.machine
        with m.lock:
            return [] if m.kasan is None else list(m.kasan.reports)

    @_locked
    def check(self) -> None:
        """Verify every invariant of docs/invariants.md; raise :class:`KernelBug` naming the first broken."""
        check_kernel(self.machine)


_default: Kernel | None = None
_default_lock = threading.Lock()


def default_kernel() -> Kernel:
    """The process-wide :class:`Kernel`, created on first use."""
    global _default
    with _default_lock:
        if _default is None:
            _default = Kernel()
        return _default
