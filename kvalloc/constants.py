"""Architecture constants of the simulated x86_64 machine (docs/mm.md#constants)."""

from __future__ import annotations

from typing import Final

PAGE_SHIFT: Final = 12
PAGE_SIZE: Final = 1 << PAGE_SHIFT
PAGE_MASK: Final = ~(PAGE_SIZE - 1)
PMD_SHIFT: Final = 21
PMD_SIZE: Final = 1 << PMD_SHIFT
PUD_SHIFT: Final = 30
PGDIR_SHIFT: Final = 39

VMALLOC_START: Final = 0xFFFFC90000000000
#: Inclusive in the kernel macro; used as an exclusive bound by the allocator.
VMALLOC_END: Final = 0xFFFFE8FFFFFFFFFF
VMALLOC_TOTAL: Final = VMALLOC_END - VMALLOC_START
PAGE_OFFSET: Final = 0xFFFF888000000000
TASK_SIZE_MAX: Final = 0x00007FFFFFFFF000
MODULES_END: Final = 0xFFFFFFFFFF000000
NUMA_NO_NODE: Final = -1
SHMLBA: Final = 4096
INT_MAX: Final = 2**31 - 1
ULONG_MAX: Final = 2**64 - 1
U64_LIMIT: Final = 2**64

MAX_PAGE_ORDER: Final = 10
NR_PAGE_ORDERS: Final = MAX_PAGE_ORDER + 1
FIRST_PFN: Final = 0x100000

KMALLOC_SHIFT_LOW: Final = 3
KMALLOC_MIN_SIZE: Final = 8
KMALLOC_SHIFT_HIGH: Final = 13
KMALLOC_MAX_CACHE_SIZE: Final = 8192
KMALLOC_SHIFT_MAX: Final = 22
KMALLOC_MAX_SIZE: Final = 4 << 20
KMALLOC_MAX_ORDER: Final = 10
ZERO_SIZE_PTR: Final = 16
KMALLOC_CLASSES: Final = (8, 16, 32, 64, 96, 128, 192, 256, 512, 1024, 2048, 4096, 8192)

#: Lowest kernel address that has KASAN shadow.
KASAN_SHADOW_START: Final = 0xFFFF800000000000
KASAN_SHADOW_OFFSET: Final = 0xDFFFFC0000000000

# vmap_area type bits
VMAP_RAM: Final = 0x1
VMAP_BLOCK: Final = 0x2

#: ``VMAP_MAX_ALLOC`` (``BITS_PER_LONG``): a ``vm_map_ram`` of at most this many pages is
#: carved from a per-CPU vmap block.
VMAP_MAX_ALLOC: Final = 64
#: ``VMAP_BBMAP_BITS``: pages per vmap block, ``min(1024, max(128, VMALLOC_PAGES /
#: roundup_pow_of_two(NR_CPUS) / 16))``: 1024 with 128 GiB of assumed space and NR_CPUS 64.
VMAP_BBMAP_BITS: Final = 1024
#: ``VMAP_BLOCK_SIZE``: 4 MiB, each block aligned to it.
VMAP_BLOCK_SIZE: Final = VMAP_BBMAP_BITS * PAGE_SIZE


def is_vmalloc_addr(addr: int) -> bool:
    """``is_vmalloc_addr``: ``VMALLOC_START <= addr < VMALLOC_END`` for an untagged address."""
    return VMALLOC_START <= addr < VMALLOC_END


def IS_ALIGNED(x: int, a: int) -> bool:
    """``IS_ALIGNED``: ``x & (a - 1) == 0``; false for an alignment of 0 (unless ``x`` is 0)."""
    return x & (a - 1) == 0


def ALIGN(x: int, a: int) -> int:
    """Round ``x`` up to a multiple of the power of two ``a``."""
    return (x + a - 1) & ~(a - 1)


def ALIGN_DOWN(x: int, a: int) -> int:
    """Round ``x`` down to a multiple of the power of two ``a``."""
    return x & ~(a - 1)


def PAGE_ALIGN(x: int) -> int:
    """Round ``x`` up to a whole number of pages."""
    return (x + PAGE_SIZE - 1) & PAGE_MASK


def is_power_of_2(n: int) -> bool:
    """True for 1, 2, 4, ...; false for 0 and negatives."""
    return n > 0 and n & (n - 1) == 0


def ilog2(n: int) -> int:
    """``floor(log2(n))`` for ``n >= 1``."""
    return n.bit_length() - 1


def fls(n: int) -> int:
    """Find last set bit, 1-based: ``fls(0) == 0``, ``fls(2) == 2``."""
    return n.bit_length()


def get_order(size: int) -> int:
    """Smallest ``k`` with ``PAGE_SIZE << k >= size`` (``size >= 1``)."""
    return max(0, ((size - 1) >> PAGE_SHIFT).bit_length())
