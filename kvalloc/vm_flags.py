"""``VM_*`` area flags (include/linux/vmalloc.h) and KASAN vmalloc flags."""

from __future__ import annotations

import enum
from typing import Final


class VM(enum.IntFlag):
    """Flags of a ``vm_struct``, with the kernel's values."""

    IOREMAP = 0x1
    ALLOC = 0x2
    MAP = 0x4
    USERMAP = 0x8
    DMA_COHERENT = 0x10
    UNINITIALIZED = 0x20
    NO_GUARD = 0x40
    KASAN = 0x80
    FLUSH_RESET_PERMS = 0x100
    MAP_PUT_PAGES = 0x200
    ALLOW_HUGE_VMAP = 0x400
    SPARSE = 0x1000


class V:
    """The ``VM_*`` flags as plain ints, for the simulated kernel's hot paths (see
    :class:`kvalloc.gfp.G`)."""

    ALLOC: Final = int(VM.ALLOC)
    ALLOW_HUGE_VMAP: Final = int(VM.ALLOW_HUGE_VMAP)
    DMA_COHERENT: Final = int(VM.DMA_COHERENT)
    FLUSH_RESET_PERMS: Final = int(VM.FLUSH_RESET_PERMS)
    IOREMAP: Final = int(VM.IOREMAP)
    MAP: Final = int(VM.MAP)
    MAP_PUT_PAGES: Final = int(VM.MAP_PUT_PAGES)
    NO_GUARD: Final = int(VM.NO_GUARD)
    SPARSE: Final = int(VM.SPARSE)
    UNINITIALIZED: Final = int(VM.UNINITIALIZED)
    USERMAP: Final = int(VM.USERMAP)


VM_ALL_BITS: Final = 0x17FF

KASAN_VMALLOC_NONE: Final = 0x0
KASAN_VMALLOC_INIT: Final = 0x1
KASAN_VMALLOC_VM_ALLOC: Final = 0x2
KASAN_VMALLOC_PROT_NORMAL: Final = 0x4
KASAN_VMALLOC_KEEP_TAG: Final = 0x8
