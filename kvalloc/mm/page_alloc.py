"""Physical page frames and the buddy allocator (mm/page_alloc.c, docs/mm.md#page-allocator).

Frames are numbered from ``FIRST_PFN``. Metadata exists only for allocated blocks. Contents
live in 64 MiB chunks (16384 frames, one anonymous ``mmap`` each) created when a frame in them
is first written: the host commits memory only for pages actually touched, an untouched frame
reads as zeros, and physically contiguous frames are contiguous host bytes, so a copy between
two contiguous runs is one slice copy and a container over contiguous frames gets one flat
view. Order-10 blocks that were never split are kept as one watermark (``_fresh``) instead
of a list, so ``Kernel(KernelConfig(ram=64 << 30))`` costs nothing until used.

A block :meth:`PageAllocator.split_page_lazy` splits for vmalloc stays one
:class:`SplitBlock`: its order-0 pages get a :class:`Block` only when someone asks for one
(``blocks.get(pfn)``, :meth:`PageAllocator.page_block`), and a run of them is freed in one
go (:meth:`PageAllocator.free_split_run`), so an area's pages cost O(runs) Python work.

Invariants (``check``):
    - free blocks are aligned to their order, disjoint, and maximal (no free buddy pair
      below ``MAX_PAGE_ORDER``); no allocated block overlaps a free block;
    - ``nr_free`` equals the frames in free blocks, and free + allocated = total frames;
    - ``min_free <= nr_free`` (the low-water mark since the last :meth:`reset_watermark`);
    - INV-PG-4: every :class:`SplitBlock` is aligned to its order, inside RAM, listed once
      under its order-10 pageblock, has frames without a Block left (``mask`` not empty,
      within ``2**order`` bits), and none of those frames has a Block or is free.
"""

from __future__ import annotations

import heapq
import mmap
import operator
import threading
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Final, overload

from ..constants import (
    FIRST_PFN,
    MAX_PAGE_ORDER,
    NR_PAGE_ORDERS,
    PAGE_OFFSET,
    PAGE_SHIFT,
    PAGE_SIZE,
)
from ..errors import KernelBug
from ..gfp import G

if TYPE_CHECKING:
    from .fault_inject import FaultInjection
    from .memcontrol import Cgroup, MemCgroups
    from .printk import KernelLog

# Owners of an allocated block (INV-PG-3).
OWNER_VMALLOC = "vmalloc"
OWNER_SLAB = "slab"
OWNER_LARGE_KMALLOC = "kmalloc"
OWNER_USER = "user"

CHUNK_SHIFT: Final = 14                     # frames per contents chunk: 16384 (64 MiB)
CHUNK_FRAMES: Final = 1 << CHUNK_SHIFT
CHUNK_BYTES: Final = CHUNK_FRAMES * PAGE_SIZE
#: Private anonymous chunks where the platform has them: ``MADV_DONTNEED`` then really frees
#: the host pages (a shared anonymous mapping would keep them as shmem).
_PRIVATE: Final[dict[str, int]] = (
    {"flags": mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS}
    if hasattr(mmap, "MAP_PRIVATE") and hasattr(mmap, "MAP_ANONYMOUS") else {})
#: The smallest freed run whose host memory is given back (16 MiB): smaller frees are reused
#: soon, and a madvise plus a host page fault per frame would cost more than the memory is
#: worth (8 MiB releases slowed the growth study at 10**6 elements by 25 %).
RELEASE_MIN_FRAMES: Final = 4096
ZERO_CHUNK: Final = memoryview(bytes(CHUNK_BYTES))
_CHUNK_MASK: Final = CHUNK_FRAMES - 1


def run_length(pfns: list[int], i: int, limit: int) -> int:
    """How many of the ``limit`` frames from ``pfns[i]`` are consecutive: the longest
    ``k`` with ``pfns[i:i + k] == range(pfns[i], pfns[i] + k)``.

    The whole window is compared first (usually it is one run); otherwise the run's end is
    found by bisecting on the entries alone (``pfns[i + m - 1] == pfns[i] + m - 1``) and the
    run found is checked with one compare: O(k + log limit) at C speed, no Python step per
    frame. Frames that leave the count and come back to it are walked one by one.
    """
    first = pfns[i]
    end_ok = pfns[i + limit - 1] - first == limit - 1
    if end_ok and pfns[i:i + limit] == list(range(first, first + limit)):
        return limit
    if not end_ok:
        lo, hi = 1, limit          # the entry at lo - 1 is on the count, the one at hi - 1 not
        while hi - lo > 1:
            mid = (lo + hi) >> 1
            if pfns[i + mid - 1] - first == mid - 1:
                lo = mid
            else:
                hi = mid
        if pfns[i:i + lo] == list(range(first, first + lo)):
            return lo              # consecutive, and pfns[i + lo] is off the count
    k = 1
    while k < limit and pfns[i + k] == first + k:
        k += 1
    return k


class Block:
    """An allocated block of ``2**order`` frames (``struct page`` of its head)."""

    __slots__ = ("pfn", "order", "refcount", "owner", "memcg", "vmalloc")

    def __init__(self, pfn: int, order: int, owner: str, memcg: Cgroup | None) -> None:
        self.pfn = pfn
        self.order = order
        self.refcount = 1
        self.owner = owner
        self.memcg = memcg
        self.vmalloc = False   # the NR_VMALLOC mark


_PFN = operator.attrgetter("pfn")


class SplitBlock:
    """A block :meth:`PageAllocator.split_page_lazy` turned into ``2**order`` order-0 pages,
    kept as one object: each frame whose bit is set in ``mask`` (bit ``i``: frame
    ``pfn + i``) is an allocated order-0 page with refcount 1 and this ``owner``, ``memcg``
    and NR_VMALLOC mark, that has no :class:`Block` yet. Its Block is made when someone asks
    (:meth:`PageAllocator.page_block`) and its bit cleared then; freeing clears the bits too.
    """

    __slots__ = ("pfn", "order", "owner", "memcg", "vmalloc", "mask")

    def __init__(self, block: Block) -> None:
        self.pfn = block.pfn
        self.order = block.order
        self.owner = block.owner
        self.memcg = block.memcg
        self.vmalloc = block.vmalloc
        self.mask = (1 << (1 << block.order)) - 1

    def __repr__(self) -> str:
        return f"SplitBlock(pfn={self.pfn:#x}, order={self.order}, left={self.mask.bit_count()})"


def _trailing_ones(m: int) -> int:
    return (m ^ (m + 1)).bit_length() - 1


class BlockMap(dict[int, Block]):
    """The allocated blocks by head pfn (``struct page`` of each head), as a dict.

    The order-0 pages of a :class:`SplitBlock` have no entry until asked for: ``get``,
    ``[]`` and ``in`` find them too, making (and keeping) their Block. Iteration, ``len``,
    ``keys``, ``items`` and ``values`` see only the Blocks made so far; the rest are
    :meth:`PageAllocator.lazy_runs`.
    """

    __slots__ = ("_mem",)

    def __init__(self, mem: PageAllocator) -> None:
        super().__init__()
        self._mem = mem

    @overload  # type: ignore[override]
    def get(self, pfn: int, /) -> Block | None: ...
    @overload
    def get(self, pfn: int, default: Block, /) -> Block: ...
    @overload
    def get(self, pfn: int, default: None, /) -> Block | None: ...

    def get(self, pfn: int, default: Block | None = None, /) -> Block | None:
        b = dict.get(self, pfn)
        if b is not None or not self._mem.split:
            return default if b is None else b
        b = self._make(pfn)
        return default if b is None else b

    def _make(self, pfn: int) -> Block | None:
        """The Block of a page of a split block, made now; None if ``pfn`` is no such page.
        Under the allocator's lock: readers such as ``Page.refcount`` do not hold it."""
        mem = self._mem
        with mem.lock:
            b = dict.get(self, pfn)
            if b is not None:
                return b
            sb = mem.split_of(pfn)
            return None if sb is None else mem.materialize(sb, pfn)

    def __missing__(self, pfn: int) -> Block:
        b = self._make(pfn) if self._mem.split else None
        if b is None:
            raise KeyError(pfn)
        return b

    def __contains__(self, pfn: object) -> bool:
        return dict.__contains__(self, pfn) or (
            type(pfn) is int and bool(self._mem.split) and self._mem.split_of(pfn) is not None)


class FreeList:
    """The free blocks of one order (``free_area[order]``), handed out lowest pfn first
    (also the partial slabs of a kmalloc cache, by base address).

    A set of the free heads plus a min-heap with lazy deletion: adding, removing and taking
    the lowest are O(log n) in C (``heapq``), where a sorted container costs microseconds a
    call in Python. Invariant: every head in :attr:`live` has an entry in :attr:`heap`;
    entries of heads no longer free are dropped when they reach the top, and the heap is
    rebuilt when they outnumber the live ones.
    """

    __slots__ = ("heap", "live")

    def __init__(self) -> None:
        self.heap: list[int] = []
        self.live: set[int] = set()

    def __len__(self) -> int:
        return len(self.live)

    def __bool__(self) -> bool:
        return bool(self.live)

    def __contains__(self, pfn: object) -> bool:
        return pfn in self.live

    def __iter__(self) -> Iterator[int]:
        """The free heads in pfn order. O(n log n)."""
        return iter(sorted(self.live))

    def add(self, pfn: int) -> None:
        self.live.add(pfn)
        heapq.heappush(self.heap, pfn)

    def remove(self, pfn: int) -> None:
        self.live.remove(pfn)
        if len(self.heap) > 2 * len(self.live) + 64:
            self.heap = sorted(self.live)           # a sorted list is a heap

    def lowest(self) -> int:
        """The lowest free head (the list must not be empty)."""
        heap, live = self.heap, self.live
        while heap[0] not in live:
            heapq.heappop(heap)
        return heap[0]

    def pop_lowest(self) -> int:
        """Remove and return the lowest free head (the list must not be empty)."""
        heap, live = self.heap, self.live
        pfn = heapq.heappop(heap)
        while pfn not in live:
            pfn = heapq.heappop(heap)
        live.remove(pfn)
        return pfn


class PageAllocator:
    """Buddy allocator over orders 0..10 with the lowest-pfn rule; frames hold real bytes."""

    def __init__(self, ram: int, init_on_alloc: bool, init_on_free: bool, log: KernelLog,
                 fault: FaultInjection, memcg: MemCgroups, release_host: bool = False) -> None:
        self.nr_frames = ram // PAGE_SIZE
        self.start_pfn = FIRST_PFN
        self.end_pfn = FIRST_PFN + self.nr_frames
        self.init_on_alloc = init_on_alloc
        self.init_on_free = init_on_free
        self.log = log
        self.fault = fault
        self.memcg = memcg
        self.free_area: list[FreeList] = [FreeList() for _ in range(NR_PAGE_ORDERS)]
        self.free_order: dict[int, int] = {}       # explicit free block head -> order
        self._fresh = FIRST_PFN                    # [_fresh, end_pfn): never-split order-10 blocks
        self.nr_free = self.nr_frames
        self.min_free = self.nr_frames             # low-water mark of nr_free (peak use)
        #: held while a page's Block is made for a reader (the machine's lock, set by Machine)
        self.lock: threading.RLock = threading.RLock()
        self.blocks = BlockMap(self)               # allocated block head -> Block
        #: order-10 pageblock (pfn >> 10) -> the SplitBlocks with frames left in it
        self.split: dict[int, list[SplitBlock]] = {}
        self.chunks: dict[int, memoryview] = {}    # pfn >> 14 -> 64 MiB of frame contents
        self._maps: dict[int, mmap.mmap] = {}      # the same chunks' mappings (for madvise)
        self.release_host = release_host and hasattr(mmap, "MADV_DONTNEED") and \
            bool(_PRIVATE) and PAGE_SIZE % mmap.PAGESIZE == 0
        self.host_released = 0                     # frames whose host memory was given back
        self.nr_vmalloc = 0                        # NR_VMALLOC
        # Cumulative work (``Kernel.work()``): frames handed out / returned by the buddy
        # allocator (``1 << order`` per block), and bytes of whole pages cleared for
        # ``__GFP_ZERO`` / ``init_on_alloc`` / ``init_on_free`` (``clear_page`` of every
        # page, even where the simulation skips a chunk that is still all zeros).
        self.nr_pages_allocated = 0
        self.nr_pages_freed = 0
        self.nr_bytes_zeroed = 0

    # -- contents ---------------------------------------------------------------------
    #
    # The only code that knows where frame bytes live: frame ``pfn`` is the 4096 bytes at
    # ``(pfn & (CHUNK_FRAMES - 1)) << PAGE_SHIFT`` of chunk ``pfn >> CHUNK_SHIFT``. Everyone
    # else asks for a *run*: ``n`` bytes from byte ``off`` of frame ``pfn``, which must not
    # cross the end of the chunk (:meth:`run_frames` says how far a run may go).

    def chunk(self, idx: int) -> memoryview:
        """The writable 64 MiB contents chunk ``idx`` (frames ``idx << 14`` ...), created zeroed."""
        mv = self.chunks.get(idx)
        if mv is None:
            mm = self._maps[idx] = mmap.mmap(-1, CHUNK_BYTES, **_PRIVATE)
            mv = self.chunks[idx] = memoryview(mm)
        return mv

    @staticmethod
    def run_frames(pfn: int) -> int:
        """How many frames from ``pfn`` share its contents chunk (the longest possible run)."""
        return CHUNK_FRAMES - (pfn & _CHUNK_MASK)

    def run(self, pfn: int, off: int, n: int) -> memoryview:
        """Writable view of ``n`` bytes from byte ``off`` of frame ``pfn`` (creates the chunk)."""
        b = ((pfn & _CHUNK_MASK) << PAGE_SHIFT) + off
        return self.chunk(pfn >> CHUNK_SHIFT)[b:b + n]

    def peek_run(self, pfn: int, off: int, n: int) -> memoryview | None:
        """Like :meth:`run`, but None when the chunk was never written (it reads as zeros)."""
        mv = self.chunks.get(pfn >> CHUNK_SHIFT)
        if mv is None:
            return None
        b = ((pfn & _CHUNK_MASK) << PAGE_SHIFT) + off
        return mv[b:b + n]

    def zero_run(self, pfn: int, off: int, n: int) -> None:
        """Zero a run in place (nothing to do if its chunk was never written)."""
        mv = self.chunks.get(pfn >> CHUNK_SHIFT)
        if mv is not None:
            b = ((pfn & _CHUNK_MASK) << PAGE_SHIFT) + off
            mv[b:b + n] = ZERO_CHUNK[:n]

    def frame(self, pfn: int) -> memoryview:
        """The writable 4096 bytes of frame ``pfn`` (a view into its chunk)."""
        return self.run(pfn, 0, PAGE_SIZE)

    def peek(self, pfn: int) -> memoryview | None:
        """Frame ``pfn``'s bytes, or None if it was never written (it reads as zeros)."""
        return self.peek_run(pfn, 0, PAGE_SIZE)

    def contiguous_view(self, pfns: list[int], off: int, size: int) -> memoryview | None:
        """One writable view of ``size`` bytes from byte ``off`` of ``pfns[0]``, when the frames
        are consecutive and in one chunk; else None. O(len(pfns)) at C speed."""
        if not pfns or len(pfns) > self.run_frames(pfns[0]) or \
                pfns[-1] - pfns[0] != len(pfns) - 1 or \
                pfns != list(range(pfns[0], pfns[0] + len(pfns))):
            return None
        return self.run(pfns[0], off, size)

    def release_frames(self, pfn: int, n: int) -> None:
        """Give the host memory of ``n`` free frames from ``pfn`` back to the host OS, when
        enabled and the run is at least :data:`RELEASE_MIN_FRAMES`: the frames then read
        as zeros (their views stay valid). O(chunks touched)."""
        if not self.release_host or n < RELEASE_MIN_FRAMES:
            return
        while n > 0:
            k = min(n, self.run_frames(pfn))
            mm = self._maps.get(pfn >> CHUNK_SHIFT)
            if mm is not None:
                mm.madvise(mmap.MADV_DONTNEED, (pfn & _CHUNK_MASK) << PAGE_SHIFT,
                           k << PAGE_SHIFT)
                self.host_released += k
            pfn += k
            n -= k

    def zero_frames(self, pfn: int, n: int) -> None:
        """Zero ``n`` frames from ``pfn`` in place (views of them stay valid)."""
        while n > 0:
            k = min(n, self.run_frames(pfn))
            self.zero_run(pfn, 0, k << PAGE_SHIFT)
            pfn += k
            n -= k

    # -- buddy core -------------------------------------------------------------------

    def _add_free(self, pfn: int, order: int) -> None:
        self.free_area[order].add(pfn)
        self.free_order[pfn] = order

    def _del_free(self, pfn: int, order: int) -> None:
        self.free_area[order].remove(pfn)
        del self.free_order[pfn]

    def _take(self, order: int) -> int | None:
        """Remove the lowest-pfn free block of the smallest order >= ``order`` and split it."""
        free_area = self.free_area
        for j in range(order, NR_PAGE_ORDERS):
            fl = free_area[j]
            if j == MAX_PAGE_ORDER and self._fresh < self.end_pfn and (
                    not fl or self._fresh < fl.lowest()):
                pfn = self._fresh
                self._fresh += 1 << MAX_PAGE_ORDER
            elif fl.live:
                pfn = fl.pop_lowest()
                del self.free_order[pfn]
            else:
                continue
            while j > order:
                j -= 1
                self._add_free(pfn + (1 << j), j)
            nr_free = self.nr_free - (1 << order)
            self.nr_free = nr_free
            if nr_free < self.min_free:
                self.min_free = nr_free
            return pfn
        return None

    def reset_watermark(self) -> None:
        """Start a new peak measurement: ``min_free = nr_free``. O(1)."""
        self.min_free = self.nr_free

    def _give_back(self, pfn: int, order: int) -> None:
        """Return a block to the free lists, merging with free buddies."""
        self.nr_free += 1 << order
        free_order = self.free_order
        while order < MAX_PAGE_ORDER:
            buddy = pfn ^ (1 << order)
            if free_order.get(buddy) != order:
                break
            self._del_free(buddy, order)
            pfn &= ~(1 << order)
            order += 1
        self.free_area[order].add(pfn)                # _add_free
        free_order[pfn] = order

    # -- allocation API ---------------------------------------------------------------

    def alloc_pages(self, gfp: int, order: int, owner: str) -> Block | None:
        """``alloc_pages(gfp, order)``: an allocated block, or None (with warn_alloc).

        O(log n) in the number of free blocks.
        """
        if order > MAX_PAGE_ORDER:
            if not gfp & G.NOWARN:
                self.log.WARN_ONCE("__alloc_pages_noprof", None, site="__alloc_pages_noprof:order")
            return None
        fault = self.fault.page_alloc
        pfn: int | None
        if fault.armed and not gfp & G.NOFAIL and order >= fault.min_order and \
                self.fault.should_fail(fault, bool(gfp & G.NOWARN)):
            pfn = None
        else:
            pfn = self._take(order)
        if pfn is None:
            self.log.warn_alloc(gfp, f"page allocation failure: order:{order}")
            if gfp & G.NOFAIL:
                raise KernelBug("__GFP_NOFAIL allocation cannot make progress")
            return None
        if (self.init_on_alloc or gfp & G.ZERO) and not self.init_on_free:
            self.zero_frames(pfn, 1 << order)
            self.nr_bytes_zeroed += PAGE_SIZE << order          # kernel_init_pages()
        self.nr_pages_allocated += 1 << order
        cg: Cgroup | None = None
        if gfp & G.ACCOUNT:
            ok, cg = self.memcg.try_charge(gfp, 1 << order)
            if not ok:
                # The kernel allocates, fails the charge and __free_pages() the block.
                self.nr_pages_freed += 1 << order
                self._give_back(pfn, order)
                return None
        block = Block(pfn, order, owner, cg)
        self.blocks[pfn] = block
        return block

    def free_pages(self, block: Block) -> None:
        """``__free_pages``: uncharge, zero under ``init_on_free``, merge into the buddy lists."""
        del self.blocks[block.pfn]
        block.refcount = 0
        n = 1 << block.order
        self.nr_pages_freed += n
        if block.memcg is not None:
            self.memcg.uncharge(block.memcg, n)
            block.memcg = None
        if self.init_on_free:
            self.zero_frames(block.pfn, n)
            self.nr_bytes_zeroed += n << PAGE_SHIFT
        if n >= RELEASE_MIN_FRAMES:
            self.release_frames(block.pfn, n)
        self._give_back(block.pfn, block.order)

    def free_pages_run(self, run: Sequence[Block], release: bool = True) -> None:
        """:meth:`free_pages` of each block of ``run``: order-0 blocks of consecutive frames
        that share one memcg. The same end state (the buddy lists are a function of which
        frames are free), in O(len(run)) dict work and one merge per aligned piece.
        ``release=False`` keeps the host memory, as one free per page would."""
        n = len(run)
        if not n:
            return
        first = run[0].pfn
        cg = run[0].memcg
        blocks = self.blocks
        get = dict.get
        for i, b in enumerate(run):
            if b.order or b.memcg is not cg or b.pfn != first + i or get(blocks, b.pfn) is not b:
                raise KernelBug(f"free_pages_run: frame {b.pfn:#x} is not part of an order-0 run "
                                f"from {first:#x}")
        for b in run:
            del blocks[b.pfn]
            b.refcount = 0
            b.memcg = None
        self._free_run(first, n, cg, release)

    def free_split_run(self, pieces: Sequence[tuple[SplitBlock, int, int]],
                       release: bool = True) -> None:
        """:meth:`free_pages` of each page of ``pieces``, ``(split, pfn, n)``: the ``n``
        pages from ``pfn`` of each, all without a Block yet, the pieces consecutive frames
        of one memcg. As :meth:`free_pages_run`, in O(len(pieces)); nothing changes if the
        pieces are not such a run."""
        if not pieces:
            return
        first = pos = pieces[0][1]
        cg = pieces[0][0].memcg
        for sb, pfn, n in pieces:
            off = pfn - sb.pfn
            m = ((1 << n) - 1) << off if off >= 0 else 0
            if pfn != pos or n < 1 or sb.memcg is not cg or off < 0 or \
                    off + n > 1 << sb.order or sb.mask & m != m:
                raise KernelBug(f"free_split_run: frames {pfn:#x}+{n} are not part of an order-0 "
                                f"run from {first:#x}")
            pos += n
        for sb, pfn, n in pieces:
            sb.mask ^= ((1 << n) - 1) << (pfn - sb.pfn)
            if not sb.mask:
                self._unlist(sb)
        self._free_run(first, pos - first, cg, release)

    def _free_run(self, first: int, n: int, cg: Cgroup | None, release: bool) -> None:
        """The common tail of the run frees: ``n`` frames from ``first``, taken off their
        owner's books already, go back to the buddy lists."""
        self.nr_pages_freed += n
        if cg is not None:
            self.memcg.uncharge(cg, n)
        if self.init_on_free:
            self.zero_frames(first, n)
            self.nr_bytes_zeroed += n << PAGE_SHIFT
        if release and n >= RELEASE_MIN_FRAMES:       # release_frames' own test, without its call
            self.release_frames(first, n)
        give_back = self._give_back
        pfn, end = first, first + n
        while pfn < end:
            order = min(MAX_PAGE_ORDER, (end - pfn).bit_length() - 1,
                        (pfn & -pfn).bit_length() - 1 if pfn else MAX_PAGE_ORDER)
            give_back(pfn, order)
            pfn += 1 << order

    def split_page(self, block: Block) -> list[Block]:
        """``split_page``: turn an order-k block into ``2**k`` order-0 blocks."""
        if block.order == 0:
            return [block]
        first = block.pfn
        owner, cg = block.owner, block.memcg
        out = [Block(pfn, 0, owner, cg) for pfn in range(first, first + (1 << block.order))]
        self.blocks.update(zip(map(_PFN, out), out))   # the blocks' own ints: no second copy
        return out

    # -- lazily split blocks ------------------------------------------------------------

    def split_page_lazy(self, block: Block) -> SplitBlock:
        """``split_page`` of an order >= 1 block, its pages kept as one :class:`SplitBlock`
        (their Blocks made on demand). O(1)."""
        if not block.order or dict.get(self.blocks, block.pfn) is not block:
            raise KernelBug(f"split_page: {block.pfn:#x} is not an allocated block of order >= 1")
        del self.blocks[block.pfn]
        sb = SplitBlock(block)
        lst = self.split.get(block.pfn >> MAX_PAGE_ORDER)
        if lst is None:
            self.split[block.pfn >> MAX_PAGE_ORDER] = [sb]
        else:
            lst.append(sb)
        return sb

    def _unlist(self, sb: SplitBlock) -> None:
        """Drop a SplitBlock with no frames left from :attr:`split`."""
        idx = sb.pfn >> MAX_PAGE_ORDER
        lst = self.split[idx]
        if len(lst) == 1:
            del self.split[idx]
        else:
            lst.remove(sb)

    def split_of(self, pfn: int) -> SplitBlock | None:
        """The SplitBlock holding frame ``pfn`` without a Block, or None. O(1)."""
        lst = self.split.get(pfn >> MAX_PAGE_ORDER)
        if lst:
            for sb in lst:
                off = pfn - sb.pfn
                if 0 <= off < 1 << sb.order and sb.mask >> off & 1:
                    return sb
        return None

    def materialize(self, sb: SplitBlock, pfn: int) -> Block:
        """Make (and keep) the Block of ``sb``'s frame ``pfn``, which must have none yet."""
        off = pfn - sb.pfn
        if not (0 <= off < 1 << sb.order and sb.mask >> off & 1):
            raise KernelBug(f"materialize: frame {pfn:#x} is not a page of {sb!r}")
        sb.mask ^= 1 << off
        if not sb.mask:
            self._unlist(sb)
        b = Block(pfn, 0, sb.owner, sb.memcg)
        b.vmalloc = sb.vmalloc
        dict.__setitem__(self.blocks, pfn, b)
        return b

    def page_block(self, sb: SplitBlock, pfn: int) -> Block:
        """The Block of page ``pfn`` of ``sb``: made now if it has none yet. O(1)."""
        b = dict.get(self.blocks, pfn)
        if b is not None:
            return b
        return self.materialize(sb, pfn)

    @staticmethod
    def lazy_run(sb: SplitBlock, pfn: int, n: int) -> bool:
        """Whether the ``n >= 1`` frames from ``pfn`` are all pages of ``sb`` without a Block."""
        off = pfn - sb.pfn
        if off < 0 or off + n > 1 << sb.order:
            return False
        m = ((1 << n) - 1) << off
        return sb.mask & m == m

    def lazy_runs(self) -> Iterator[tuple[int, int, SplitBlock]]:
        """Every run of frames without a Block as ``(pfn, n, split)``. O(runs)."""
        for lst in self.split.values():
            for sb in lst:
                m, base = sb.mask, sb.pfn
                while m:
                    low = (m & -m).bit_length() - 1
                    m >>= low
                    base += low
                    n = _trailing_ones(m)
                    yield base, n, sb
                    m >>= n
                    base += n

    def alloc_pages_bulk(self, gfp: int, nr: int, owner: str) -> list[Block]:
        """Order-0 frames one at a time until ``nr`` or the first failure; never warns.

        Each frame is counted (``nr_pages_allocated``) by :meth:`alloc_pages`, not here.
        """
        gfp |= G.NOWARN
        if nr == 1:                         # as the kernel: the single-page allocator
            block = self.alloc_pages(gfp, 0, owner)
            return [] if block is None else [block]
        out: list[Block] = []
        for _ in range(nr):
            block = self.alloc_pages(gfp, 0, owner)
            if block is None:
                break
            out.append(block)
        return out

    # -- lookups ----------------------------------------------------------------------

    def block_of(self, pfn: int) -> Block | None:
        """The allocated block containing frame ``pfn``, or None if it is free."""
        sb = self.split_of(pfn) if self.split else None
        if sb is not None:
            return self.materialize(sb, pfn)
        blocks, get = self.blocks, dict.get
        for order in range(NR_PAGE_ORDERS):
            head = pfn & ~((1 << order) - 1)
            b = get(blocks, head)
            if b is not None:
                return b if b.order >= order else None
        return None

    def valid_pfn(self, pfn: int) -> bool:
        """True for every simulated frame."""
        return self.start_pfn <= pfn < self.end_pfn

    @staticmethod
    def page_address(pfn: int) -> int:
        """Direct-map address of a frame."""
        return PAGE_OFFSET + pfn * PAGE_SIZE

    def free_blocks(self) -> Iterator[tuple[int, int]]:
        """Every free block as ``(pfn, order)``, explicit ones then never-split ones."""
        for order, fl in enumerate(self.free_area):
            for pfn in fl:
                yield pfn, order
        for pfn in range(self._fresh, self.end_pfn, 1 << MAX_PAGE_ORDER):
            yield pfn, MAX_PAGE_ORDER

    def nr_free_blocks(self, order: int) -> int:
        """Number of free blocks of ``order`` (for /proc/buddyinfo)."""
        n = len(self.free_area[order])
        if order == MAX_PAGE_ORDER:
            n += (self.end_pfn - self._fresh) >> MAX_PAGE_ORDER
        return n

    # -- invariants -------------------------------------------------------------------

    def check(self) -> None:
        """INV-PG-1, INV-PG-4 and INV-PG-3 (allocated blocks, the pages of split blocks
        without a Block, and free blocks do not overlap)."""
        free = 0
        spans: list[tuple[int, int, str]] = []
        for pfn, order in self.free_blocks():
            n = 1 << order
            if pfn & (n - 1) or not (self.start_pfn <= pfn and pfn + n <= self.end_pfn):
                raise KernelBug(f"INV-PG-1: free block {pfn:#x} order {order} misaligned or outside RAM")
            if order < MAX_PAGE_ORDER and self.free_order.get(pfn ^ n) == order:
                raise KernelBug(f"INV-PG-1: free buddies {pfn:#x} and {pfn ^ n:#x} of order {order} "
                                "not merged")
            free += n
            spans.append((pfn, pfn + n, "free"))
        if free != self.nr_free:
            raise KernelBug(f"INV-PG-1: nr_free {self.nr_free} != {free} frames in free blocks")
        if not 0 <= self.min_free <= self.nr_free:
            raise KernelBug(f"INV-PG-1: low-water mark {self.min_free} above nr_free {self.nr_free}")
        allocated = 0
        for pfn, b in dict.items(self.blocks):
            if b.pfn != pfn or b.refcount < 1:
                raise KernelBug(f"INV-PG-1: allocated block {pfn:#x} has refcount {b.refcount}")
            allocated += 1 << b.order
            spans.append((pfn, pfn + (1 << b.order), b.owner))
        seen: set[int] = set()
        for idx, lst in self.split.items():
            for sb in lst:
                size = 1 << sb.order
                if id(sb) in seen or sb.pfn >> MAX_PAGE_ORDER != idx or not sb.order or \
                        sb.pfn & (size - 1) or not (self.start_pfn <= sb.pfn and
                                                    sb.pfn + size <= self.end_pfn):
                    raise KernelBug(f"INV-PG-4: split block {sb.pfn:#x} order {sb.order} "
                                    f"misplaced or listed twice")
                if not sb.mask or sb.mask >> size:
                    raise KernelBug(f"INV-PG-4: split block {sb.pfn:#x} has frames "
                                    f"{sb.mask:#x} left, not some of {size}")
                seen.add(id(sb))
        for pfn, n, sb in self.lazy_runs():
            allocated += n
            spans.append((pfn, pfn + n, sb.owner))
        if free + allocated != self.nr_frames:
            raise KernelBug(f"INV-PG-1: free {free} + allocated {allocated} != {self.nr_frames} frames")
        spans.sort()
        for (_, e1, o1), (s2, _, o2) in zip(spans, spans[1:]):
            if s2 < e1:
                raise KernelBug(f"INV-PG-3: frames {s2:#x} belong to {o1} and {o2}")
