"""The global KVA allocator of mm/vmalloc.c: free, busy and lazily-freed vmap areas.

Free space is a set of maximal blocks ``[start, end)`` covering, together with the busy, lazy
and leaked areas, exactly ``[1, ULONG_MAX)``. The kernel keeps them twice, in a sorted list
(neighbours, merging) and an augmented rb-tree (the lowest-fit search). Here one structure
does both jobs: :class:`FreeAreaTree` holds the blocks in address-ordered chunks, each knowing
its largest block, with a max-tree over the chunk maxima, so the first chunk that can hold a
request is found in O(log n) and a C-level scan finds the block in it, while a bisect finds a
block's neighbours. :class:`FreeVmapAreas` adds each block's end by its start. A plain linear
scan (:func:`find_vmap_lowest_linear_match`) is kept as the reference and compared in tests.

Fit types (mm/vmalloc.c: va_clip()), for a request ``[nva, nva + size)`` inside free ``[s, e)``::

    FL_FIT_TYPE  |<-------- va -------->|        s == nva, e == nva + size: block removed
                 |<------- free ------->|

    LE_FIT_TYPE  |<-- va -->|<- rest ->|         s == nva: block becomes [nva + size, e)
    RE_FIT_TYPE  |<- rest ->|<-- va -->|         e == nva + size: block becomes [s, nva)
    NE_FIT_TYPE  |<-rest->|<- va ->|<-rest->|    split into [s, nva) and [nva + size, e)
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Iterator
from itertools import compress, islice
from typing import TYPE_CHECKING, Final

from ..constants import ALIGN, PAGE_SHIFT, PAGE_SIZE, ULONG_MAX, VMALLOC_END, VMALLOC_START
from ..gfp import GFP_RECLAIM_MASK, G
from .vmalloc_types import SortedVAs, VmapArea

if TYPE_CHECKING:
    from .kasan import Kasan
    from .pgtable import PageTable
    from .printk import KernelLog
    from .trace import Trace
    from .vmalloc_types import VmStruct
    from .workqueue import Workqueue

NOTHING_FIT = 0
FL_FIT_TYPE = 1
LE_FIT_TYPE = 2
RE_FIT_TYPE = 3
NE_FIT_TYPE = 4


def classify_va_fit_type(s: int, e: int, nva: int, size: int) -> int:
    """The fit type of ``[nva, nva + size)`` inside free block ``[s, e)``."""
    if nva < s or nva + size > e:
        return NOTHING_FIT
    if s == nva:
        return FL_FIT_TYPE if e == nva + size else LE_FIT_TYPE
    return RE_FIT_TYPE if e == nva + size else NE_FIT_TYPE


def find_vmap_lowest_linear_match(blocks: Iterable[tuple[int, int]], size: int, align: int,
                                  vstart: int) -> tuple[int, int, int] | None:
    """Reference lowest fit: the first block, in address order, that holds the aligned request.

    Returns ``(start, end, nva)`` or None. O(n). Blocks must be sorted by start.

    >>> find_vmap_lowest_linear_match([(1, 100), (4096, 16384)], 4096, 4096, 0)
    (4096, 16384, 4096)
    """
    for s, e in blocks:
        if e <= vstart:
            continue
        nva = ALIGN(max(s, vstart), align)
        if nva + size <= e:
            return s, e, nva
    return None


class FreeAreaTree:
    """Free vmap areas in address order with a max-size index (the augmented rb-tree's job).

    Invariants:
        - chunks are non-empty, sorted, and ``_heads[c] == _starts[c][0]``;
        - ``_sizes[c][i] == _ends[c][i] - _starts[c][i]`` and ``_maxes[c] == max(_sizes[c])``;
        - ``_tree`` is a max-tree over ``_maxes`` (leaves at ``_leaf + c``).

    Complexity: insert, remove and lowest fit are O(log n) plus a C-level scan of one chunk
    of at most ``2 * LOAD`` blocks.

    >>> t = FreeAreaTree([(1, ULONG_MAX)])
    >>> t.find_lowest_match(8192, 4096, 0x10000)
    (1, 18446744073709551615, 65536)
    """

    LOAD = 128

    def __init__(self, blocks: Iterable[tuple[int, int]] = ()) -> None:
        self._starts: list[list[int]] = []
        self._ends: list[list[int]] = []
        self._sizes: list[list[int]] = []
        self._maxes: list[int] = []
        self._heads: list[int] = []
        self._len = 0
        items = sorted(blocks)
        for i in range(0, len(items), self.LOAD):
            part = items[i:i + self.LOAD]
            self._starts.append([s for s, _ in part])
            self._ends.append([e for _, e in part])
            self._sizes.append([e - s for s, e in part])
        self._len = len(items)
        self._rebuild()

    # -- index maintenance ------------------------------------------------------------

    def _rebuild(self) -> None:
        self._heads = [c[0] for c in self._starts]
        self._maxes = [max(c) for c in self._sizes]
        leaf = 1
        while leaf < max(1, len(self._maxes)):
            leaf <<= 1
        tree = [-1] * (2 * leaf)
        tree[leaf:leaf + len(self._maxes)] = self._maxes
        for i in range(leaf - 1, 0, -1):
            a, b = tree[2 * i], tree[2 * i + 1]
            tree[i] = a if a > b else b
        self._leaf = leaf
        self._tree = tree

    def _update(self, c: int) -> None:
        m = max(self._sizes[c])
        if m == self._maxes[c]:
            return
        self._maxes[c] = m
        tree = self._tree
        i = self._leaf + c
        tree[i] = m
        i >>= 1
        while i:
            a, b = tree[2 * i], tree[2 * i + 1]
            v = a if a > b else b
            if tree[i] == v:
                break
            tree[i] = v
            i >>= 1

    def _first_chunk_from(self, c: int, size: int) -> int:
        """Lowest chunk index >= c whose largest block is >= size, or -1."""
        tree = self._tree
        i = self._leaf + c
        if tree[i] >= size:
            return c
        while True:
            while i & 1:
                if i == 1:
                    return -1
                i >>= 1
            i += 1
            if tree[i] >= size:
                break
        leaf = self._leaf
        while i < leaf:
            i <<= 1
            if tree[i] < size:
                i += 1
        return i - leaf

    # -- queries ----------------------------------------------------------------------

    def __len__(self) -> int:
        return self._len

    def __iter__(self) -> Iterator[tuple[int, int]]:
        for starts, ends in zip(self._starts, self._ends):
            yield from zip(starts, ends)

    def _locate(self, addr: int) -> tuple[int, int]:
        """Chunk and index of the last block with start <= addr (index -1 if none)."""
        c = bisect_right(self._heads, addr) - 1
        if c < 0:
            return 0, -1
        return c, bisect_right(self._starts[c], addr) - 1

    def neighbours(self, addr: int) -> tuple[tuple[int, int] | None, tuple[int, int] | None]:
        """The block with the largest start ``<= addr`` and the one with the smallest start
        ``> addr``, each ``(start, end)`` or None. O(log n).

        >>> FreeAreaTree([(10, 20), (30, 40)]).neighbours(25)
        ((10, 20), (30, 40))
        """
        if not self._len:
            return None, None
        c, i = self._locate(addr)
        starts, ends = self._starts, self._ends
        prev = (starts[c][i], ends[c][i]) if i >= 0 else None
        if i + 1 < len(starts[c]):
            return prev, (starts[c][i + 1], ends[c][i + 1])
        if c + 1 < len(starts):
            return prev, (starts[c + 1][0], ends[c + 1][0])
        return prev, None

    def find_lowest_match(self, size: int, align: int, vstart: int) -> tuple[int, int, int] | None:
        """Exact lowest fit: ``(start, end, nva)`` of the first block holding the request.

        Unlike the kernel, blocks smaller than ``size + align - 1`` are not pruned, so a lower
        block that fits thanks to its alignment is never missed.
        """
        if not self._len:
            return None
        starts, ends, sizes = self._starts, self._ends, self._sizes
        c, i = self._locate(vstart)
        if i < 0:
            c, i = 0, 0
        elif ends[c][i] <= vstart:
            i += 1
        nchunks = len(starts)
        while c < nchunks:
            if i >= len(starts[c]):
                c, i = c + 1, 0
                continue
            if self._maxes[c] < size:
                c = self._first_chunk_from(c + 1, size) if c + 1 < nchunks else -1
                if c < 0:
                    return None
                i = 0
            chunk_sizes = sizes[c]
            hit = next(compress(range(i, len(chunk_sizes)),
                                map(size.__le__, islice(chunk_sizes, i, None))), -1)
            if hit < 0:
                c, i = c + 1, 0
                continue
            s, e = starts[c][hit], ends[c][hit]
            nva = ((s if s > vstart else vstart) + align - 1) & -align       # ALIGN()
            if nva + size <= e:
                return s, e, nva
            i = hit + 1
        return None

    # -- updates ----------------------------------------------------------------------

    def _insert(self, start: int, end: int) -> None:
        if not self._len:
            self._starts, self._ends, self._sizes = [[start]], [[end]], [[end - start]]
            self._len = 1
            self._rebuild()
            return
        c = max(0, bisect_right(self._heads, start) - 1)
        starts = self._starts[c]
        i = bisect_left(starts, start)
        starts.insert(i, start)
        self._ends[c].insert(i, end)
        self._sizes[c].insert(i, end - start)
        self._len += 1
        if len(starts) > 2 * self.LOAD:
            half = self.LOAD
            self._starts[c + 1:c + 1] = [starts[half:]]
            self._ends[c + 1:c + 1] = [self._ends[c][half:]]
            self._sizes[c + 1:c + 1] = [self._sizes[c][half:]]
            del starts[half:], self._ends[c][half:], self._sizes[c][half:]
            self._rebuild()
        elif i == 0:
            self._heads[c] = start
            self._update(c)
        else:
            self._update(c)

    def _remove_at(self, c: int, i: int) -> None:
        del self._starts[c][i], self._ends[c][i], self._sizes[c][i]
        self._len -= 1
        if not self._starts[c]:
            del self._starts[c], self._ends[c], self._sizes[c]
            self._rebuild()
        else:
            if i == 0:
                self._heads[c] = self._starts[c][0]
            self._update(c)

    def _index(self, start: int) -> tuple[int, int]:
        """Chunk and index of the block starting at ``start`` (KeyError if none)."""
        c = bisect_right(self._heads, start) - 1       # _locate, inlined: every update asks
        starts = self._starts[c] if c >= 0 else []
        i = bisect_right(starts, start) - 1
        if i < 0 or starts[i] != start:
            raise KeyError(start)
        return c, i

    def remove(self, start: int) -> None:
        """Remove the free block starting at ``start``."""
        self._remove_at(*self._index(start))

    def insert(self, start: int, end: int) -> None:
        """Index a new free block (not adjacent to or overlapping another). O(log n)."""
        self._insert(start, end)

    def replace(self, start: int, new_start: int, new_end: int) -> None:
        """Change the block at ``start`` to ``[new_start, new_end)`` without crossing a
        neighbour (clipping and merging keep the address order). O(log n)."""
        c, i = self._index(start)
        self._starts[c][i] = new_start
        self._ends[c][i] = new_end
        self._sizes[c][i] = new_end - new_start
        if i == 0:
            self._heads[c] = new_start
        self._update(c)

    def check(self) -> None:
        """Verify the chunk structure and the max-tree (raises AssertionError)."""
        assert len(self._starts) == len(self._ends) == len(self._sizes) == len(self._heads)
        n = 0
        for c, (st, en, sz) in enumerate(zip(self._starts, self._ends, self._sizes)):
            assert st and st == sorted(st) and self._heads[c] == st[0], "chunk order"
            assert sz == [e - s for s, e in zip(st, en)], "chunk sizes"
            assert self._maxes[c] == max(sz), "chunk max"
            assert self._tree[self._leaf + c] == self._maxes[c], "max-tree leaf"
            n += len(st)
        for i in range(1, self._leaf):
            assert self._tree[i] == max(self._tree[2 * i], self._tree[2 * i + 1]), "max-tree node"
        assert n == self._len, "length"


class FreeVmapAreas:
    """The free vmap areas: the lowest-fit index (:class:`FreeAreaTree`, in address order)
    plus each block's end by its start.

    Invariants (``check``): blocks are disjoint, non-empty and never adjacent (always merged);
    ``ends`` holds exactly the index's blocks.

    >>> f = FreeVmapAreas([(0x1000, 0x2000), (0x3000, 0x4000)])
    >>> f.merge_or_add(0x2000, 0x3000), list(f)
    (None, [(4096, 16384)])
    """

    __slots__ = ("ends", "index")

    def __init__(self, blocks: Iterable[tuple[int, int]] = ()) -> None:
        items = sorted(blocks)
        self.ends: dict[int, int] = dict(items)
        self.index = FreeAreaTree(items)

    def __len__(self) -> int:
        return len(self.index)

    def __iter__(self) -> Iterator[tuple[int, int]]:
        return iter(list(self.index))

    def find_lowest_match(self, size: int, align: int, vstart: int) -> tuple[int, int, int] | None:
        """``find_vmap_lowest_match``, exact: see :meth:`FreeAreaTree.find_lowest_match`."""
        return self.index.find_lowest_match(size, align, vstart)

    def _add(self, start: int, end: int) -> None:
        self.ends[start] = end
        self.index.insert(start, end)

    def _del(self, start: int) -> None:
        del self.ends[start]
        self.index.remove(start)

    def _replace(self, start: int, new_start: int, new_end: int) -> None:
        if new_start != start:
            del self.ends[start]
        self.ends[new_start] = new_end
        self.index.replace(start, new_start, new_end)

    def va_clip(self, s: int, e: int, nva: int, size: int) -> int:
        """Cut ``[nva, nva + size)`` out of free block ``[s, e)``; returns the fit type."""
        fit = classify_va_fit_type(s, e, nva, size)
        if fit == FL_FIT_TYPE:
            self._del(s)
        elif fit == LE_FIT_TYPE:
            self._replace(s, nva + size, e)
        elif fit == RE_FIT_TYPE:
            self._replace(s, s, nva)
        elif fit == NE_FIT_TYPE:
            self._replace(s, s, nva)
            self._add(nva + size, e)
        return fit

    def merge_or_add(self, start: int, end: int) -> tuple[int, int] | None:
        """``__merge_or_add_vmap_area``: insert ``[start, end)`` merging with its neighbours.

        On overlap nothing changes and the overlapping free block is returned.
        """
        prev, nxt = self.index.neighbours(start)
        if prev is not None and prev[1] > start:
            return prev
        if nxt is not None and nxt[0] < end:
            return nxt
        if nxt is not None and nxt[0] == end:                    # merge with the next block
            if prev is not None and prev[1] == start:            # ... and the previous one
                self._del(nxt[0])
                self._replace(prev[0], prev[0], nxt[1])
            else:
                self._replace(nxt[0], start, nxt[1])
        elif prev is not None and prev[1] == start:
            self._replace(prev[0], prev[0], end)
        else:
            self._add(start, end)
        return None

    def check(self) -> None:
        """The index is internally consistent and ``ends`` mirrors it (AssertionError)."""
        self.index.check()
        assert dict(self.index) == self.ends, "ends differ from the free index"


# errno values returned (negated) by alloc_vmap_area
EINVAL = 22
ENOENT = 2
ERANGE = 34
EBUSY = 16


#: ``MAX_VA_SIZE_PAGES``: a node pools freed areas of up to this many pages (guard included).
MAX_VA_SIZE_PAGES: Final = 256


def _nothing() -> None:
    pass


def nr_vmap_nodes(cpus: int) -> int:
    """``vmap_init_nodes``: one vmap node per possible CPU, at most 128."""
    return min(max(cpus, 1), 128)


class VmapAreaAllocator:
    """``alloc_vmap_area`` / ``free_vmap_area_noflush`` / ``__purge_vmap_area_lazy``, with
    the vmap nodes of v6.9 and later (``struct vmap_node``).

    With more than one node, an area allocated in ``[VMALLOC_START, VMALLOC_END)`` records
    its node (``encode_vn_id``: the allocating CPU's, here CPU 0's, node) in ``va.flags``; a
    purge gives such an area of at most ``MAX_VA_SIZE_PAGES`` pages to that node's pool of
    its size (``node_pool_add_va``) instead of the free tree, and a later request of exactly
    that size takes the most recently pooled one first (``node_alloc``). Every purge first
    decays each pool by a quarter (``decay_va_pool_node``), all of it when the allocator is
    out of space; pools never hold address ranges the free tree holds.

    Invariants (``Kernel.check``): free, busy, lazy, pooled and leaked areas are disjoint
    and cover ``[1, ULONG_MAX)``; free blocks are never adjacent; ``vmap_lazy_nr`` is the
    page count of the lazy areas; each pooled area has its pool's size and node.
    """

    def __init__(self, log: KernelLog, trace: Trace, pgtable: PageTable, lazy_max: int,
                 busy: SortedVAs, kasan: Kasan | None, wq: Workqueue, nodes: int = 1) -> None:
        self.log = log
        self.wq = wq
        self.trace = trace
        self.pgtable = pgtable
        self.kasan = kasan
        self.lazy_max_pages = lazy_max
        self.free = FreeVmapAreas([(1, ULONG_MAX)])
        self.busy = busy
        self.lazy = SortedVAs()
        self.leaked: list[VmapArea] = []
        self.vmap_lazy_nr = 0
        self.busy_bytes = 0                      # address space of the busy areas
        self.generation = 0                      # bumped by every change of the areas
        self.nr_purges = 0
        self.nr_va_allocs = 0                    # busy areas made (WorkCounts.vmap_area_allocs)
        self.nr_lazy_purged = 0                  # lazy areas purged (WorkCounts.lazy_areas_purged)
        self.fit_types = dict.fromkeys(
            (NOTHING_FIT, FL_FIT_TYPE, LE_FIT_TYPE, RE_FIT_TYPE, NE_FIT_TYPE), 0)
        self.nr_nodes = nodes
        #: per node: pool index (pages - 1) -> areas, the list's end being the pool's head
        self.pools: list[dict[int, list[VmapArea]]] = [{} for _ in range(nodes)]
        self.nr_pooled = 0                       # areas in all pools
        #: ``purge_fragmented_blocks_allcpus``, run before an out-of-space purge; set by
        #: the vmap blocks, which sit above this allocator
        self.reclaim: Callable[[], None] = _nothing

    # -- vmap nodes -------------------------------------------------------------------

    def _pool_del(self, node: int, size: int, align: int, vstart: int,
                  vend: int) -> VmapArea | None:
        """``node_pool_del_va``: the head of the node's pool of ``size``, if it is aligned;
        an unaligned head goes to the pool's tail and nothing is returned."""
        pool = self.pools[node].get((size - 1) >> PAGE_SHIFT)
        if not pool:
            return None
        va = pool[-1]
        if va.va_start & (align - 1):
            pool.insert(0, pool.pop())            # list_move_tail
            return None
        if va.va_end - va.va_start != size or va.va_start < vstart or va.va_end > vend:
            self.log.WARN_ONCE("node_pool_del_va", "", site="node_pool_del_va")
            return None
        pool.pop()
        self.nr_pooled -= 1
        return va

    def _pool_add(self, node: int, va: VmapArea) -> bool:
        """``node_pool_add_va``: put ``va`` at the head of its size's pool, if it has one."""
        idx = (va.va_end - va.va_start - 1) >> PAGE_SHIFT
        if idx >= MAX_VA_SIZE_PAGES:
            return False
        self.pools[node].setdefault(idx, []).append(va)
        self.nr_pooled += 1
        return True

    def decay(self, full: bool) -> int:
        """``decay_va_pool_node`` on every node: return a quarter of each pool (all with
        ``full``), from the head, to the free tree. Returns how many areas went back."""
        before = self.nr_pooled
        if before:
            for node in range(self.nr_nodes):
                self._decay_node(node, full)
        return before - self.nr_pooled

    def _decay_node(self, node: int, full: bool) -> None:
        pools = self.pools[node]
        for idx in sorted(pools):
            pool = pools[idx]
            n = len(pool) if full else len(pool) >> 2
            for _ in range(n):
                self._merge(pool.pop())
            if n:
                self.nr_pooled -= n
                self.generation += 1
            if not pool:
                del pools[idx]

    def addr_to_node(self, addr: int) -> int:
        """``addr_to_node_id``: the node whose busy tree holds an area starting at ``addr``
        (16-page zones dealt round the nodes; ``vmap_zone_size``)."""
        return (addr >> (PAGE_SHIFT + 4)) % self.nr_nodes

    def lazy_node(self, va: VmapArea) -> int:
        """The node whose lazy list holds ``va`` (``free_vmap_area_noflush``): the node it
        was allocated for, else the one of its address."""
        vn_id = va.flags >> 8
        return vn_id - 1 if 0 < vn_id <= self.nr_nodes else self.addr_to_node(va.va_start)

    def pooled(self) -> list[tuple[int, VmapArea]]:
        """Every pooled area with its node, by node then pool."""
        return [(n, va) for n, pools in enumerate(self.pools) for idx in sorted(pools)
                for va in pools[idx]]

    def insert_vmap_area(self, tree: SortedVAs, va: VmapArea) -> bool:
        """``insert_vmap_area``: link ``va`` unless it overlaps (then WARN and leak it)."""
        other = tree.insert(va)
        if other is not None:
            self._overlap_bug(va, other.va_start, other.va_end)
            return False
        return True

    def _overlap_bug(self, va: VmapArea, start: int, end: int) -> None:
        self.leaked.append(va)
        self.log.WARN("find_va_links", f"vmalloc bug: {va.va_start:#x}-{va.va_end:#x} "
                      f"overlaps with {start:#x}-{end:#x}\n")

    def alloc_vmap_area(self, size: int, align: int, vstart: int, vend: int, gfp: int,
                        va_flags: int = 0, vm: VmStruct | None = None) -> VmapArea | int:
        """Reserve ``size`` bytes of KVA at the lowest fitting address; ``-errno`` on failure.

        O(log n) in the number of free blocks (plus one purge when space runs out).
        """
        if size <= 0 or size & (PAGE_SIZE - 1) or align <= 0 or align & (align - 1):
            return -EINVAL                       # not page-sized, or align not a power of 2
        gfp &= GFP_RECLAIM_MASK
        allow_block = bool(gfp & G.DIRECT_RECLAIM)
        purged = False
        find = self.free.index.find_lowest_match
        free = self.free
        vn_id = 0                                # encode_vn_id: 0 is "no node"
        if self.nr_nodes > 1 and vstart == VMALLOC_START and vend == VMALLOC_END:
            node = 0                             # raw_smp_processor_id() % nr_vmap_nodes
            vn_id = (node + 1) << 8
            pooled = self._pool_del(node, size, align, vstart, vend)
            if pooled is not None:
                if "alloc_vmap_area" in self.trace.enabled:
                    self.trace.emit("alloc_vmap_area", addr=pooled.va_start, size=size,
                                    align=align, vstart=vstart, vend=vend, failed=0)
                return self._take(pooled.va_start, size, align, vstart, vend, va_flags | vn_id,
                                  vm, pooled)
        while True:
            match = find(size, align, vstart)
            if match is None:
                err = -ENOENT
            elif match[2] + size > vend:
                err = -ERANGE
            else:
                err = 0
                s, e, nva = match
                self.fit_types[free.va_clip(s, e, nva, size)] += 1
            if "alloc_vmap_area" in self.trace.enabled:
                self.trace.emit("alloc_vmap_area", addr=nva if not err else err + (1 << 64),
                                size=size, align=align, vstart=vstart, vend=vend,
                                failed=1 if err else 0)
            if not err:
                break
            if not allow_block:
                return -EBUSY
            if not purged:                       # reclaim_and_purge_vmap_areas
                self.reclaim()
                self.purge(ULONG_MAX, 0, full_decay=True)
                purged = True
                continue
            if not gfp & G.NOWARN:
                self.log.pr(f"vmalloc_node_range for size {size} failed: Address range "
                            f"restricted to {vstart:#x} - {vend:#x}")
            return -EBUSY
        return self._take(nva, size, align, vstart, vend, va_flags | vn_id, vm)

    def _take(self, nva: int, size: int, align: int, vstart: int, vend: int, va_flags: int,
              vm: VmStruct | None, va: VmapArea | None = None) -> VmapArea:
        """Make ``[nva, nva + size)`` a busy area (for ``vm`` if given): ``va``, an area
        taken from a node's pool (as ``node_alloc`` returns it), or a new one."""
        if va is None:
            va = VmapArea(nva, nva + size, vm, va_flags)
        else:
            va.vm, va.flags = vm, va_flags
        self.nr_va_allocs += 1
        if vm is not None:
            vm.addr = nva
            vm.size = size
            vm.va = va
        self.generation += 1
        if self.insert_vmap_area(self.busy, va):
            self.busy_bytes += size
        if nva & (align - 1) or not vstart <= nva < vend:
            raise self.log.BUG("alloc_vmap_area", "unaligned or out-of-range vmap area")
        if self.kasan is not None:
            self.kasan.populate_vmalloc(nva, nva + size)
        return va

    def extend_vmap_area(self, va: VmapArea, new_end: int, vend: int) -> bool:
        """Grow busy ``va`` to end at ``new_end`` by taking ``[va.va_end, new_end)`` from the
        free block that starts right at its end. False, with nothing changed, unless that
        whole range is free and below ``vend``. O(log n).

        A what-if primitive (docs/whatif.md): no kernel function extends a busy area.
        """
        old_end = va.va_end
        free_end = self.free.ends.get(old_end)
        if free_end is None or not old_end < new_end <= min(free_end, vend):
            return False
        self.free.va_clip(old_end, free_end, old_end, new_end - old_end)
        va.va_end = new_end
        self.busy_bytes += new_end - old_end
        self.generation += 1
        if self.kasan is not None:
            self.kasan.populate_vmalloc(old_end, new_end)
        return True

    def trim_vmap_area(self, va: VmapArea, new_end: int) -> None:
        """Undo :meth:`extend_vmap_area`: ``[new_end, va.va_end)`` goes back to the free tree."""
        old_end = va.va_end
        va.va_end = new_end
        self.busy_bytes -= old_end - new_end
        self.generation += 1
        self._merge(VmapArea(new_end, old_end))

    def find_vmap_area(self, addr: int) -> VmapArea | None:
        """The busy area containing ``addr`` (already untagged)."""
        return self.busy.find(addr)

    def find_unlink_vmap_area(self, addr: int) -> VmapArea | None:
        """``find_vmap_area`` and unlink the result from busy."""
        va = self.busy.find(addr)
        if va is not None:
            self.busy.remove(va)
            self.busy_bytes -= va.va_end - va.va_start
            self.generation += 1
        return va

    def free_unmap_vmap_area(self, va: VmapArea) -> None:
        """Clear the area's mappings (no TLB flush) and free it lazily."""
        self.pgtable.vunmap_range_noflush(va.va_start, va.va_end)
        self.free_vmap_area_noflush(va)

    def free_vmap_area_noflush(self, va: VmapArea) -> None:
        """Queue ``va`` on the lazy list; past ``lazy_max_pages()``, schedule
        ``drain_vmap_work`` (it runs before the next vmalloc-family allocation)."""
        self.generation += 1
        nr_lazy = self.vmap_lazy_nr + ((va.va_end - va.va_start) >> PAGE_SHIFT)
        self.vmap_lazy_nr = nr_lazy
        va.vm = None
        if not self.insert_vmap_area(self.lazy, va):
            self.vmap_lazy_nr -= (va.va_end - va.va_start) >> PAGE_SHIFT
        if "free_vmap_area_noflush" in self.trace.enabled:
            self.trace.emit("free_vmap_area_noflush", va_start=va.va_start, nr_lazy=nr_lazy,
                            nr_lazy_max=self.lazy_max_pages)
        if nr_lazy > self.lazy_max_pages:
            self.wq.schedule_work("drain_vmap_work", self.drain_vmap_area_work)

    def drain_vmap_area_work(self) -> None:
        """``drain_vmap_area_work``: purge the lazy areas; the pools only decay."""
        self.purge(ULONG_MAX, 0)

    def free_vmap_area(self, va: VmapArea) -> None:
        """Immediate free (error paths): unlink from busy and merge into free, no flush."""
        self.busy.remove(va)
        self.busy_bytes -= va.va_end - va.va_start
        self.generation += 1
        self._merge(va)

    def _merge(self, va: VmapArea) -> None:
        other = self.free.merge_or_add(va.va_start, va.va_end)
        if other is not None:
            self._overlap_bug(va, *other)

    def purge(self, start: int, end: int, full_decay: bool = False) -> int:
        """``__purge_vmap_area_lazy``: decay the node pools, one TLB flush, then every lazy
        area goes to its node's pool (``purge_vmap_node``) or back to free; ``full_decay``
        (``reclaim_and_purge_vmap_areas``) empties the pools and pools nothing.

        Returns the number of areas purged.
        """
        self.decay(full_decay)
        vas = self.lazy.pop_all() if len(self.lazy) else []
        if vas:
            self.generation += 1
            start = min(start, vas[0].va_start)
            end = max(end, vas[-1].va_end)
            self.pgtable.flush_tlb_kernel_range(start, end)
            kasan = self.kasan
            pool = self.nr_nodes > 1 and not full_decay
            for va in vas:
                if kasan is not None:
                    kasan.release_vmalloc(va.va_start, va.va_end)
                vn_id = va.flags >> 8
                if pool and 0 < vn_id <= self.nr_nodes and self._pool_add(vn_id - 1, va):
                    continue
                self._merge(va)
            self.vmap_lazy_nr = 0
            self.nr_purges += 1
            self.nr_lazy_purged += len(vas)
        self.trace.emit("purge_vmap_area_lazy", start=start, end=end, npurged=len(vas))
        return len(vas)
